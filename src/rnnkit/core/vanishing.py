"""Gradients that vanish become zero, not subnormal floats, in the backward step kernels.

Gradients that travel back many steps shrink geometrically. With the loss at the last step
only (a many-to-one model), dh of an LSTM (16,200,64,256) falls below the smallest normal
float32 (1.2e-38) about 150 steps back, and on x86 each operation that reads or makes a
subnormal number takes a microcode assist of ~100 cycles: that backward pass took 820 ms
against 32 ms with a loss at every step (torch shows the same; its ``set_flush_denormal`` is
off by default). So the step kernels of ``rnnkit.core.kernels`` set what they carry and hand
on (dh, dc, the gates' gradients that the products and the weight gradients read) to zero
below 2**24 times the dtype's smallest normal number (2e-31 in float32, 2e-292 in float64):
their products with weights and states then stay normal too. A value that small vanishes
when added to any gradient of 1e-24 or more and moves no weight (Adam divides by at least
its eps, 1e-8): 32 ms again, on every path (benchmarks/README.md, session 10).
"""
from __future__ import annotations

from numba.extending import register_jitable


@register_jitable
def threshold(a):
    """Below this a gradient is negligible: 2**24 (float32) or 2**53 (float64) times the
    smallest normal number of a's dtype."""
    return a.dtype.type(1.1754943508222875e-38 * 2.0 ** 24) if a.itemsize == 4 else \
        a.dtype.type(2.2250738585072014e-308 * 2.0 ** 53)


@register_jitable
def flushed(v, tiny):
    """v, or 0 where |v| < tiny (NaN passes)."""
    return v * 0 if abs(v) < tiny else v


@register_jitable
def flush(v):
    """Entries of the vector v below threshold(v) in size set to 0, in place."""
    tiny = threshold(v)
    for j in range(v.size):
        v[j] = flushed(v[j], tiny)
