"""Activations for numba kernels, inlined into their loops: numba picks the float32 or the
float64 version at compile time (``_tanh``, ``_sigmoid``, ``_exp``), and the constants every
kernel compiles with (``_JIT``).

Transcendentals: without SVML (llvmlite's wheels are not built with it) numba calls scalar
libm ``exp``/``tanh``, ~10 ns each, which cost more than the GEMM. In float32 ``tanh`` is
therefore a clamped rational approximation (Eigen's, relative error <= 3e-7) and ``exp`` the
Cephes polynomial with exponent-bit scaling (~1 ulp), both branch-free so that LLVM vectorises
the loops; float64 keeps libm, for parity with the NumPy reference to ~1e-15.

Vector width: on AVX-512, LLVM's x86 back end vectorises loops with 256-bit vectors unless a
function asks for more (the CPU model's "prefer-256-bit" tuning, against clock throttling on
older parts). The step kernels call ``_wide_vectors()``, which gives the function compiled
around them (the time loop they are inlined into) the attribute ``"prefer-vector-width"="512"``,
as clang's ``-mprefer-vector-width=512`` does: their element-wise loops then run on 16 float32
lanes instead of 8. The register-tiled product (``rnnkit.core.gemm``) already keeps 512-bit
vectors busy, so no clock is lost that was not already. Lane width does not change any result:
the loops are element-wise, without reductions.
"""
from __future__ import annotations

import math
import os

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

_NONLINEARITY = {"tanh": 0, "relu": 1, "sigmoid": 2}
# No 'nnan'/'ninf': saturated gates rely on exp overflowing to inf in float64.
_FASTMATH = {"contract", "arcp", "nsz"}
_JIT = dict(cache=True, fastmath=_FASTMATH, error_model="numpy")  # numpy errors: no branch on /0


def _vector_bytes() -> int:
    """64 where numba compiles for AVX-512 (its target: NUMBA_CPU_FEATURES, else the host's
    features), else 32 (AVX2; older CPUs get the same IR split into smaller vectors)."""
    features = os.environ.get("NUMBA_CPU_FEATURES")
    if features is not None:
        return 64 if "+avx512f" in features.split(",") else 32
    return 64 if llvm.get_host_cpu_features().get("avx512f", False) else 32


VECTOR_BYTES = _vector_bytes()
WIDE_VECTORS = '"prefer-vector-width"="512"'  # the function attribute, as LLVM IR writes it


@intrinsic
def _wide_vectors(typingctx):
    """Where VECTOR_BYTES is 64, give the LLVM function this call is compiled into (after
    numba's inlining: the loop around the kernel) the attribute WIDE_VECTORS, so that LLVM
    vectorises its loops with 512-bit vectors; elsewhere nothing. No code is emitted.

    llvmlite's attribute set accepts only its list of keyword attributes, so the string
    attribute is added to the underlying set; LLVM IR allows it in a definition's header."""
    def codegen(context, builder, signature, args):
        if VECTOR_BYTES == 64:
            set.add(builder.function.attributes, WIDE_VECTORS)
        return context.get_dummy_value()
    return types.void(), codegen


# --- activations: numba picks the float32 or float64 version at compile time ---------------
# All are inlined into the kernels' loops (inline="always"), so that LLVM can vectorise them.
def _tanh(a):
    return math.tanh(a)


def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def _exp(a):
    return math.exp(a)


def _tanh_f32(a):
    # Rational approximation on [-7.99881, 7.99881], outside which tanh rounds to +-1 in
    # float32 (Eigen's generic_fast_tanh_float); error <= 3e-7 relative.
    lim = np.float32(7.99881172180175781)
    a = min(max(a, -lim), lim)
    a2 = a * a
    p = a2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = a2 * p + np.float32(-8.60467152213735e-11)
    p = a2 * p + np.float32(5.12229709037114e-08)
    p = a2 * p + np.float32(1.48572235717979e-05)
    p = a2 * p + np.float32(6.37261928875436e-04)
    p = a2 * p + np.float32(4.89352455891786e-03)
    q = a2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = a2 * q + np.float32(2.26843463243900e-03)
    q = a2 * q + np.float32(4.89352518554385e-03)
    return a * p / q


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bit pattern is the int32 ``bits`` (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@register_jitable(inline="always")
def _exp_f32(a):
    # Cephes expf: a = n ln2 + r with |r| <= ln2 / 2, exp(r) by a polynomial, 2^n from its
    # exponent bits; ~1 ulp. Written without calls so that LLVM vectorises it. Clamped to
    # [-87, 88], where 2^n stays a normal float: far enough for a sigmoid to saturate.
    x = min(max(a, np.float32(-87.0)), np.float32(88.0))
    n = np.floor(x * np.float32(1.44269504088896341) + np.float32(0.5))  # float32
    r = x - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + np.float32(1.0)
    return p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


def _sigmoid_f32(a):
    return np.float32(1.0) / (np.float32(1.0) + _exp_f32(-a))


@overload(_tanh, inline="always")
def _ol_tanh(a):
    return _tanh_f32 if a == types.float32 else _tanh


@overload(_sigmoid, inline="always")
def _ol_sigmoid(a):
    return _sigmoid_f32 if a == types.float32 else _sigmoid  # float64: exp(-a) -> inf gives 0


@overload(_exp, inline="always")
def _ol_exp(a):
    return _exp_f32 if a == types.float32 else _exp
