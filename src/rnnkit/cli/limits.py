"""Limits checked before a command starts work: the memory a model and its training need,
estimated from the settings and compared with what the machine has (or ``--max-memory``),
and upper bounds on the options whose size is time rather than memory.

The estimate counts, in float32, the parameters four times over (weights, gradients, Adam's
two moments) plus a copy (the best weights), times the ensemble members kept, and the
activations one batch caches for backpropagation through time: per layer and direction,
``B * T * H * (gates + 2)`` values (the gate activations, the cell and the hidden states),
and the outputs ``B * T * out`` three times (logits, softmax, gradient). It is a floor:
the real use is larger by the interpreter and the libraries (about 200 MB), which the
comparison leaves room for.
"""
from __future__ import annotations

import os

from rnnkit.errors import UsageError

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
BYTES = 4  # float32
OVERHEAD = 300 * 2**20  # the interpreter, NumPy, numba and matplotlib
MAX_UPDATES = 10_000_000  # optimiser updates per network
MAX_MEMBERS = 1000  # networks in an ensemble
MAX_BEAM = 100  # beam width (the search's time grows with it)
MAX_PAIRS = 1_000_000  # generated translation pairs
MAX_LENGTH = 10_000_000  # characters to sample


def recurrent_parameters(cell: str, input_size: int, hidden: int, layers: int,
                         bidirectional: bool = False) -> int:
    """Parameters of a stacked RNN/LSTM/GRU: per layer and direction
    ``g H (F_in + H + 2)``, with F_in the input size (then ``D H`` above the first layer)."""
    g, d = GATES.get(cell, 4), 2 if bidirectional else 1
    first = g * hidden * (input_size + hidden + 2)
    rest = g * hidden * (d * hidden + hidden + 2)
    return d * (first + (layers - 1) * rest)


def training_bytes(parameters: int, batch: int, steps: int, hidden: int, layers: int, *,
                   cell: str = "gru", bidirectional: bool = False, outputs: int = 0,
                   members: int = 1) -> int:
    """The floor of the memory (bytes) that training ``members`` networks of ``parameters``
    each needs with batches of ``batch`` sequences of ``steps`` steps (see the module)."""
    d = 2 if bidirectional else 1
    weights = 5 * parameters * members  # weights, gradients, two moments, best copy
    cache = batch * steps * hidden * (GATES.get(cell, 4) + 2) * layers * d
    logits = 3 * batch * steps * outputs
    return BYTES * (weights + cache + logits)


def available_memory() -> int:
    """Bytes this process may still use: MemAvailable from /proc/meminfo (the physical
    memory otherwise), or the address-space limit when that is lower."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            available = 2**63
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            available = min(available, soft)
    except (ImportError, OSError, ValueError):
        pass
    return available


def show_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} EB"  # pragma: no cover


def check_memory(need: int, settings: str, max_memory_gb: float | None = None, *,
                 option: bool = True) -> None:
    """UsageError, with both figures and the settings that ask for it, when ``need`` bytes
    (plus the interpreter's own) exceed ``--max-memory`` or what the machine has
    (``option``: the command has --max-memory, and the message offers it)."""
    if max_memory_gb is not None:
        limit, source = max_memory_gb * 1e9, f"the --max-memory {max_memory_gb:g} GB"
    else:
        limit, source = available_memory(), "the memory available"
    if need + OVERHEAD > limit:
        raise UsageError(f"the model and its training need about {show_bytes(need)} of memory "
                         f"({settings}), more than {source} ({show_bytes(limit)}); choose "
                         "smaller settings" + ("" if max_memory_gb is not None or not option
                                               else " or set --max-memory"))


def check_at_most(args, **limits) -> None:
    """UsageError naming the first option (by its argparse name) above its limit."""
    for name, limit in limits.items():
        value = getattr(args, name, None)
        if value is not None and value > limit:
            raise UsageError(f"--{name.replace('_', '-')} must be at most {limit}, got {value}")
