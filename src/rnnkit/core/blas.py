"""How long OpenBLAS's idle worker threads spin, shortened so that rnnkit's time loops get
the cores.

After each call that it splits over threads, OpenBLAS keeps its worker threads busy-waiting
for the next one for ``2**THREAD_TIMEOUT`` cycles before they sleep; the build's default is
2**28 (~0.1 s at 2.5 GHz). For batches up to ``rnnkit.core.paths.SHARDED_MAX_BATCH`` the
time loop runs one shard of the batch per core, right after the input projection (an
OpenBLAS product): with the default timeout a worker spins on the second shard's core for
the whole loop. Measured on 2 cores (``benchmarks/loop_paths.py``, LSTM training step at
B,T,I,H = 16,200,64,256): 106.6 ms with the default, 67.7 ms with a timeout of 2**4 cycles.

rnnkit asks for ``2**SPIN_EXPONENT`` cycles instead (~0.4 ms): long enough that the
per-step products of the loop for larger batches (one every 50-500 us) still find the worker
awake, short enough that it sleeps before a shard needs its core. Only OpenBLAS's own
setting, the environment variable ``OPENBLAS_THREAD_TIMEOUT``, is used; a value the user set
is kept as it is. Before numpy is imported, setting the variable is all it takes; when
OpenBLAS is already loaded, it re-reads its environment and restarts its workers (its own
exported ``openblas_read_env``, ``blas_thread_shutdown_`` and ``blas_thread_init``, as it
does around a fork), once, when rnnkit is imported.
"""
from __future__ import annotations

import functools
import os
import sys

SPIN_EXPONENT = 20  # OpenBLAS's workers spin 2**20 cycles (~0.4 ms) after a call, then sleep
ENV = "OPENBLAS_THREAD_TIMEOUT"
applied = None  # what importing rnnkit did: shorten_blas_spin's answer
_SYMBOLS = ("openblas_read_env", "openblas_thread_timeout", "blas_thread_shutdown_",
            "blas_thread_init")


def shorten_blas_spin() -> str:
    """Apply ``SPIN_EXPONENT`` unless the user set ``OPENBLAS_THREAD_TIMEOUT``. Returns what
    was done: 'user' (left alone), 'environment' (numpy not loaded yet: the variable is set),
    'restarted' (OpenBLAS re-read it and restarted its workers), or 'unavailable' (no OpenBLAS
    with those symbols, e.g. numpy on MKL or Accelerate: nothing to do)."""
    global applied
    if ENV in os.environ:
        applied = "user"
    else:
        os.environ[ENV] = str(SPIN_EXPONENT)
        if "numpy" not in sys.modules:
            applied = "environment"
        else:
            applied = "restarted" if _restart_openblas() else "unavailable"
    return applied


@functools.lru_cache(maxsize=1)
def _controllers():
    """threadpoolctl's controllers of the OpenBLAS libraries loaded in this process (it finds
    them whatever their file names and symbol prefixes), once numpy is loaded."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(internal_api="openblas").lib_controllers


def _openblas_libraries():
    """ctypes handles of the loaded OpenBLAS libraries that run their own threads."""
    return [c.dynlib for c in _controllers()
            if getattr(c, "threading_layer", "pthreads") == "pthreads"]


def blas_threads() -> int | None:
    """The threads OpenBLAS uses now (``OPENBLAS_NUM_THREADS``, ``threadpoolctl`` limits), or
    None when numpy does not run on OpenBLAS. rnnkit's time loops take no more shards than
    this, so that one setting limits both."""
    controllers = _controllers()
    return controllers[0].get_num_threads() if controllers else None


def blas_architecture() -> str | None:
    """The core type whose kernels NumPy's OpenBLAS runs ('Haswell', 'SkylakeX', ...: its
    choice for this CPU, or ``OPENBLAS_CORETYPE``), or None when numpy does not run on
    OpenBLAS or it does not say."""
    controllers = _controllers()
    return getattr(controllers[0], "architecture", None) if controllers else None


def _restart_openblas() -> bool:
    done = False
    for lib in _openblas_libraries():
        if not all(hasattr(lib, name) for name in _SYMBOLS):
            continue
        lib.openblas_read_env()
        if lib.openblas_thread_timeout() != SPIN_EXPONENT:
            continue
        lib.blas_thread_shutdown_()
        lib.blas_thread_init()
        done = True
    return done


def spin_exponent() -> int | None:
    """The exponent OpenBLAS read from its environment (0: its build default), or None when
    no OpenBLAS is loaded."""
    libs = [lib for lib in _openblas_libraries() if hasattr(lib, "openblas_thread_timeout")]
    return libs[0].openblas_thread_timeout() if libs else None
