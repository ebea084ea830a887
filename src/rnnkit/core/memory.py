"""glibc's malloc keeps freed memory for reuse, so that a training step does not fault in the
pages of its arrays afresh each time.

A training step allocates its buffers (gate pre-activations, states, activations, their
gradients: megabytes each) and frees them when the next step replaces them. By default glibc
maps allocations from 128 KB up (a threshold it raises, to at most 32 MB, as such blocks are
freed) with ``mmap`` and returns them to the kernel on ``free``, and gives back the top of
its heap past 128 KB of free space: the next step's arrays then touch fresh pages, one page
fault per 4 KB. On the 2-core Xeon VM of session 11 a fault cost ~1.4 us and an LSTM layer's
training step (forward + backward) took 1,400-3,100 of them: (32,50,1,64) 4.3 ms against
2.7 ms without, (64,100,128,128) 36 against 25 ms (benchmarks/README.md).

rnnkit therefore sets, once when imported, ``M_MMAP_MAX`` = 0 (no block is mapped on its own:
every allocation comes from the heap) and ``M_TRIM_THRESHOLD`` = ``TRIM_BYTES`` (free memory
at the top of the heap, up to 1 GiB, is kept for reuse rather than given back). A process
then holds on to up to 1 GiB of memory it freed. The settings are process-wide and apply to
torch's CPU tensors too (in the benchmarks, both libraries run under them). They are left
alone where the user chose: any of glibc's ``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or ``GLIBC_TUNABLES`` in the environment, or
``RNNKIT_MALLOC=default``; and where the C library is not glibc, nothing is done.
"""
from __future__ import annotations

import ctypes
import os

TRIM_BYTES = 1 << 30  # free heap top kept for reuse: 1 GiB
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                 "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")
ENV = "RNNKIT_MALLOC"  # "default": leave glibc's settings as they are
applied = None  # what importing rnnkit did: keep_freed_memory's answer


def keep_freed_memory() -> str:
    """Apply the settings above. Returns what was done: 'user' (left alone: the user set one
    of USER_SETTINGS or RNNKIT_MALLOC=default), 'applied', or 'unavailable' (not glibc)."""
    global applied
    if os.environ.get(ENV, "").strip().lower() == "default" or any(
            name in os.environ for name in USER_SETTINGS):
        applied = "user"
        return applied
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: AttributeError elsewhere (musl, macOS)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        applied = "unavailable"
        return applied
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_BYTES) == 1
    applied = "applied" if ok else "unavailable"
    return applied
