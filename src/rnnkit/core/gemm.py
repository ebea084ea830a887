"""The matrix product inside the numba time loops: a register-tiled kernel on packed panels.

``matmul_packed(a, lo, bp, out)`` computes ``out = a[lo : lo + M] @ b`` for out (M, N), the
per-step product h_{t-1} W_hh^T (or dG_t W_hh) of one shard of the batch, where
``bp = pack(b)`` holds b (K, N) as P = ceil(N / NR) panels (P, K, NR), each K x NR block of
columns contiguous and the last padded with zeros. It runs inside the numba time loops
(``rnnkit.core.kernels``), where calling OpenBLAS is not possible, and from several threads at
once, where it would not be safe (OpenBLAS and BLIS serialise or corrupt concurrent calls,
issue 12). W_hh is constant over the T steps, so it is packed once per call of the loop.

The micro-kernel computes an MR x NR tile of out in registers, as BLIS's and OpenBLAS's do:

    for k in 0 .. K-1:   C[i, :] += a[i, k] * bp[p, k, :]   for i in 0 .. MR-1

with C the MR x NV vectors of NR = NV * (vector width) columns, written once at the end. It is
written in LLVM IR (numba ``intrinsic``) with explicit vectors and ``llvm.fma``: per k, NV
vector loads of the panel, MR broadcasts of a, MR * NV fused multiply-adds and a prefetch of
the panel's row PREFETCH_ROWS ahead (below). The panel is
contiguous, which matters: a column block of the unpacked b has rows N floats apart (8 KB at
N = 2048), every one in the same L1 cache set. On AVX-512 the tile is 12 x 32 float32 (24 of
the 32 vector registers accumulate), elsewhere 6 x 16 (12 of 16 AVX2 registers). Measured
single-threaded on the 2-core Xeon (AVX-512), (24-48) x (128-512) x (512-2048) float32:
172-220 GFLOP/s, against 59-103 for the loop-vectorised kernel it replaces and 79-150 for
OpenBLAS's sgemm on one thread (benchmarks/gemm_tiles.py, benchmarks/README.md).

Rows past the last full tile take tiles of 8, 4, 2 and 1 rows; columns of the last panel
beyond N are computed into a scratch buffer and not copied out.

The same tile computes the products outside the loops (``matmul``, chosen by ``dot``) where
NumPy's BLAS runs narrower vectors than it (``rnnkit.core.paths.products_on_tile``): the
input projection, dx = dG W_ih and the weight gradients x^T dG, the last with x read in
place by columns (``a_columns``). K runs in blocks of K_BLOCK, the first block's tiles
setting the result and the others adding to it (``accumulate``), as BLIS's and OpenBLAS's
blocked products do; the cores split the panels, or the rows where the panels are few or do
not split evenly (``splits_panels``).
"""
from __future__ import annotations

import llvmlite
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from rnnkit.core import aligned, narrow, paths
from rnnkit.core.jit_math import VECTOR_BYTES
from rnnkit.core.spin import announce
from rnnkit.core.threads import cores, run_sharded

# Panel rows ahead whose cache lines each k step asks for (``llvm.prefetch``, into L1): 4 KB
# of float32 panel on AVX-512. A panel (K x NR) spans pages, at whose boundaries the
# hardware prefetchers stop; past L2 (W_hh^T of 4 MB at H = 512) the panels stream from L3.
# benchmarks/gemm_tiles.py, 12x2x64 tile, one thread, GFLOP/s without / with (two runs):
# (32,512,2048) 176-177 / 191-195, (16,256,1024) 178-200 / 218-229, (32,256,1024) 206 /
# 203-223, (32,128,512) 207 / 214; 16 and 64 rows ahead measured the same as 32.
PREFETCH_ROWS = 32
_TYPED_POINTERS = getattr(llvmlite, "ir_layer_typed_pointers_enabled", True)
MR, NV = (12, 2) if VECTOR_BYTES == 64 else (6, 2)  # rows and vectors of the register tile
_JIT = dict(fastmath={"contract", "arcp", "nsz"}, error_model="numpy", nogil=True)


def panel_width(dtype) -> int:
    """NR: the columns of one panel (and of the register tile) for this dtype."""
    return NV * VECTOR_BYTES // np.dtype(dtype).itemsize


PACK_SHARDED_MIN_BYTES = 1 << 19  # weights from this size up are packed on all the cores
PACK_K_BLOCK = 16  # rows of b that ``pack`` copies into every panel of a shard in turn


def pack(b):
    """b (K, N) as panels (P, K, NR), P = ceil(N / NR), zero past column N; contiguous. One
    pass over b (W_hh, or W_hh^T as a transposed view), PACK_K_BLOCK rows at a time into
    every panel; from PACK_SHARDED_MIN_BYTES up the panels are split over the cores
    (``rnnkit.core.threads.run_sharded``). W_hh^T packed alone on the 2-core Xeon, one thread
    / two, us: 256 KB 23.6 / 20.4, 512 KB 46.3 / 31.7, 1 MB 109.5 / 65.8, 4 MB 539-620 /
    295-337; training steps at (64,100,256,512): LSTM 187.1 / 186.0 ms, GRU 147.4 / 146.4;
    level at (64,100,128,128) and (32,100,32,256) (benchmarks/README.md, session 17). On the
    2-core EPYC (Zen 5), two threads, ms, each panel's K rows in one pass / in blocks of 16
    rows: dG (6400, 2048) 19.8 / 3.6, W_hh^T 4 MB 0.51 / 0.29 (session 18)."""
    out = _panels_for(b)  # (P, K, NR)
    P = out.shape[0]
    shards = min(cores(), P) if b.size * b.itemsize >= PACK_SHARDED_MIN_BYTES else 1
    run_sharded(_pack_panels, (b, out), P, shards)  # one shard: on this thread, no hand-off
    return out


def pack_pair(b1, b2):
    """(pack(b1), pack(b2)): a loop's W_ih^T and W_hh^T, which it packs at every call. Where
    each is too small for ``pack`` to split it over the cores but both together are not,
    each is packed on a core of its own: on the EPYC, right after the loop of an LSTM
    forward at (64,100,128,128), the two (256 KB each) took 79 and 61 us in turn."""
    sizes = [b.size * b.itemsize for b in (b1, b2)]
    if cores() < 2 or max(sizes) >= PACK_SHARDED_MIN_BYTES or \
            sum(sizes) < PACK_SHARDED_MIN_BYTES:
        return pack(b1), pack(b2)
    out1, out2 = _panels_for(b1), _panels_for(b2)  # (P, K, NR) each
    run_sharded(_pack_two, (b1, out1, b2, out2), 2, 2)
    return out1, out2


def _panels_for(b):
    """Room for pack(b): (P, K, NR), P = ceil(N / NR), for b (K, N) float32 or float64
    (TypeError otherwise)."""
    if b.dtype not in (np.float32, np.float64):
        raise TypeError(f"pack: float32 or float64, not {b.dtype}")
    NR = panel_width(b.dtype)
    return aligned.empty((-(-b.shape[1] // NR), b.shape[0], NR), b.dtype)


@njit(cache=True, **_JIT)
def _pack_two(b1, out1, b2, out2, lo, hi, sync):
    """The shard lo..hi-1 of {0: pack b1 into out1, 1: pack b2 into out2}."""
    announce(sync)
    if lo == 0:
        _pack_panels(b1, out1, 0, out1.shape[0], sync)
    if hi == 2:
        _pack_panels(b2, out2, 0, out2.shape[0], sync)


@njit(cache=True, **_JIT)
def _pack_panels(b, out, lo, hi, sync):
    """The panels lo .. hi-1 of ``pack``: out[p] = b's columns p*NR .., zero past N."""
    announce(sync)
    K, N = b.shape
    NR = out.shape[2]
    for k0 in range(0, K, PACK_K_BLOCK):  # b's rows in blocks: read in order, not a stride
        k1 = min(K, k0 + PACK_K_BLOCK)
        for p in range(lo, hi):
            n0, width = p * NR, min(NR, N - p * NR)
            panel = out[p]  # (K, NR)
            if width < NR:
                panel[k0:k1, width:] = 0  # the last panel's padding
            copy_block(b, panel, k0, k1, n0, width)


@njit(inline="always", **_JIT)
def copy_block(b, panel, k0, k1, n0, width, shift=0):
    """panel[k, :width] = b[k - shift, n0 : n0 + width] for k in k0 .. k1-1 (of a transposed
    view, W_hh^T, the width rows of W stay in L1); a full panel's width (32 or 16 columns) as
    a constant, so that LLVM copies with vector moves. ``shift`` 1: each row from b's row
    before (the joined weight gradient's h_{t-1}, ``rnnkit.core.weight_grads``)."""
    if width == 32:
        _copy_rows(b, panel, k0, k1, n0, 32, shift)
    elif width == 16:
        _copy_rows(b, panel, k0, k1, n0, 16, shift)
    else:
        _copy_rows(b, panel, k0, k1, n0, width, shift)


@njit(inline="always", **_JIT)
def _copy_rows(b, panel, k0, k1, n0, width, shift):
    """``copy_block``'s loops, for one width."""
    for k in range(k0, k1):
        for j in range(width):
            panel[k, j] = b[k - shift, n0 + j]


def _make_tile(rows, nv=NV, vector_bytes=VECTOR_BYTES, a_columns=False, accumulate=False):
    """An intrinsic tile(a, a_off, lda, bp, b_off, K, c, c_off, ldc) that sets the rows x NR
    block of c at c_off (row stride ldc) to the rows of a at a_off (row stride lda, K
    entries) times the K x NR panel of bp at b_off; offsets and strides in elements. NR is
    nv vectors of vector_bytes (other values than the module's: benchmarks/gemm_tiles.py).

    ``a_columns``: the tile's rows of a are columns of the array instead, a[i, k] at a_off +
    k * lda + i (a weight gradient's h^T, read in place); ``accumulate``: c += the product
    instead of c = (a product over blocks of K). Neither is used by the time loops yet
    (benchmarks/dw_products.py)."""

    @intrinsic
    def tile(typingctx, a, a_off, lda, bp, b_off, K, c, c_off, ldc):
        if not (a.dtype == bp.dtype == c.dtype and a.dtype in (types.float32, types.float64)):
            return None
        sig = types.void(a, a_off, lda, bp, b_off, K, c, c_off, ldc)

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            a_ptr, bp_ptr, c_ptr = (context.make_array(signature.args[j])(context, builder,
                                                                           args[j]).data
                                    for j in (0, 3, 6))
            a_off, lda, b_off, K, c_off, ldc = (
                context.cast(builder, args[j], signature.args[j], types.int64)
                for j in (1, 2, 4, 5, 7, 8))
            dtype = signature.args[0].dtype
            width = vector_bytes * 8 // dtype.bitwidth  # lanes of a vector
            vec = ir.VectorType(context.get_value_type(dtype), width)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                f"llvm.fma.v{width}f{dtype.bitwidth}")
            undef = ir.Constant(vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), width), None)  # all lane 0
            lane0 = ir.Constant(ir.IntType(32), 0)

            def const(n):
                return ir.Constant(i64, n)

            def vector_at(ptr, offset):
                return builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())

            # accumulators in allocas of the entry block: LLVM promotes them to registers
            acc = [[cgutils.alloca_once_value(builder, ir.Constant(vec, None))
                    for _ in range(nv)] for _ in range(rows)]
            if accumulate:  # start from c's block
                for i in range(rows):
                    row = builder.add(c_off, builder.mul(ldc, const(i)))
                    for v in range(nv):
                        builder.store(builder.load(
                            vector_at(c_ptr, builder.add(row, const(v * width))),
                            align=dtype.bitwidth // 8), acc[i][v])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            prefetch = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0i8" if _TYPED_POINTERS else "llvm.prefetch.p0")
            lines = max(1, nv * vector_bytes // 64)  # cache lines of one panel row
            line_entries = 64 * 8 // dtype.bitwidth  # entries of one 64-byte line
            with cgutils.for_range(builder, K) as loop:
                k = loop.index
                panel_row = builder.add(b_off, builder.mul(k, const(nv * width)))
                ahead = builder.add(panel_row, const(PREFETCH_ROWS * nv * width))
                for line in range(lines):  # read, keep in L1, data (never faults)
                    at = builder.gep(bp_ptr, [builder.add(ahead, const(line * line_entries))])
                    builder.call(prefetch, [builder.bitcast(at, i8p), ir.Constant(i32, 0),
                                            ir.Constant(i32, 3), ir.Constant(i32, 1)])
                b = [builder.load(vector_at(bp_ptr, builder.add(panel_row, const(v * width))),
                                  align=dtype.bitwidth // 8) for v in range(nv)]
                for i in range(rows):
                    if a_columns:
                        at = builder.add(builder.add(a_off, builder.mul(lda, k)), const(i))
                    else:
                        at = builder.add(builder.add(a_off, builder.mul(lda, const(i))), k)
                    x = builder.load(builder.gep(a_ptr, [at]))
                    x = builder.shuffle_vector(builder.insert_element(undef, x, lane0), undef,
                                               splat)
                    for v in range(nv):
                        builder.store(builder.call(fma, [x, b[v], builder.load(acc[i][v])]),
                                      acc[i][v])
            for i in range(rows):
                row = builder.add(c_off, builder.mul(ldc, const(i)))
                for v in range(nv):
                    builder.store(builder.load(acc[i][v]),
                                  vector_at(c_ptr, builder.add(row, const(v * width))),
                                  align=dtype.bitwidth // 8)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _make_strip(a_columns, accumulate):
    """``_strip`` for the tiles of ``_make_tile(rows, a_columns=.., accumulate=..)``: c's M x NR
    block at c_off (=, or += with accumulate) a's M rows at a_off (columns with a_columns)
    times K rows of the panel at b_off."""
    tf, t8, t4, t2, t1 = (_make_tile(r, a_columns=a_columns, accumulate=accumulate)
                          for r in (MR, 8, 4, 2, 1))

    @njit(inline="always", **_JIT)
    def strip(a, a_off, lda, bp, b_off, K, c, c_off, ldc, M):
        step = 1 if a_columns else lda  # from one row of the tile to the next, in a
        m = 0
        while m + MR <= M:
            tf(a, a_off + m * step, lda, bp, b_off, K, c, c_off + m * ldc, ldc)
            m += MR
        if M - m >= 8:
            t8(a, a_off + m * step, lda, bp, b_off, K, c, c_off + m * ldc, ldc)
            m += 8
        if M - m >= 4:
            t4(a, a_off + m * step, lda, bp, b_off, K, c, c_off + m * ldc, ldc)
            m += 4
        if M - m >= 2:
            t2(a, a_off + m * step, lda, bp, b_off, K, c, c_off + m * ldc, ldc)
            m += 2
        if M - m >= 1:
            t1(a, a_off + m * step, lda, bp, b_off, K, c, c_off + m * ldc, ldc)

    return strip


_strip = _make_strip(False, False)  # c = a's rows times the panel: the time loops' product
_strip_add = _make_strip(False, True)
_strip_cols = _make_strip(True, False)
_strip_cols_add = _make_strip(True, True)
ROW_BLOCK = 48  # rows of a per pass over the panels: 4 (AVX-512) or 8 (AVX2) full tiles


# not inlined into the time loops at numba's IR level (inline="always" there tripled their
# compile time); a call per step costs nanoseconds
@njit(cache=True, **_JIT)
def matmul_packed(a, lo, bp, out):
    """out = a[lo : lo + M] @ b for out (M, N), a (>= lo + M, K), bp = pack(b) (P, K, NR);
    a and out with contiguous rows. Blocks of ROW_BLOCK rows of a pass over every panel in
    turn, so that a block stays in L1/L2 while the panels stream past (the rows of a batch
    shard, at most 48 in the layer table, are one block)."""
    M, N = out.shape
    P, K, NR = bp.shape
    if a.shape[1] != K or P * NR < N or a.shape[0] < lo + M:
        raise ValueError("matmul_packed: shapes do not match")
    # (a stride along an axis of length 1 may be anything: x_t with I = 1, for one)
    if (K > 1 and a.strides[1] != a.itemsize) or (N > 1 and out.strides[1] != out.itemsize):
        raise ValueError("matmul_packed: the rows of a and out must be contiguous")
    lda, ldc = a.strides[0] // a.itemsize, out.strides[0] // out.itemsize
    full = N // NR  # panels whose columns all lie in out
    rest = N - full * NR
    if rest:  # only then a buffer: G*H a multiple of NR allocates nothing per step
        scratch = np.empty((min(M, ROW_BLOCK), NR), out.dtype)
    for m0 in range(0, M, ROW_BLOCK):
        rows = min(ROW_BLOCK, M - m0)
        a_off = (lo + m0) * lda
        for p in range(full):
            _strip(a, a_off, lda, bp, p * K * NR, K, out, m0 * ldc + p * NR, ldc, rows)
        if rest:  # the last panel's valid columns, through a scratch block
            _strip(a, a_off, lda, bp, full * K * NR, K, scratch, 0, NR, rows)
            for m in range(rows):
                for n in range(rest):
                    out[m0 + m, full * NR + n] = scratch[m, n]


K_BLOCK = 256  # rows of a panel per pass: K_BLOCK x NR float32 (32 KB) stays in L1
M_BLOCK = 96  # rows of a per pass over the panels: M_BLOCK x K_BLOCK stays in L2


@njit(cache=True, **_JIT)
def _blocked_product(a, a_cols, bp, out, last, by_panels, kc_max, mc, lo, hi, sync):
    """One shard of ``matmul``: out = a @ b for the panels lo .. hi-1 (``by_panels``) or the
    rows lo .. hi-1 of out, with bp = pack(b) (P, K, NR), a (M, K), or a^T given as a (K, M)
    with ``a_cols``. K runs in blocks of kc_max, the first block's tiles setting out and the
    later ones adding to it; the rows in blocks of mc. The last panel, if only partly in out,
    goes through ``last`` (M, NR)."""
    announce(sync)
    P, K, NR = bp.shape
    M, N = out.shape
    lda, ldc = a.shape[1], out.shape[1]
    full = N // NR  # panels whose columns all lie in out
    p_lo, p_hi, m_lo, m_hi = (lo, hi, 0, M) if by_panels else (0, P, lo, hi)
    for k0 in range(0, K, kc_max):
        kc = min(kc_max, K - k0)
        for m0 in range(m_lo, m_hi, mc):
            rows = min(mc, m_hi - m0)
            a_off = k0 * lda + m0 if a_cols else m0 * lda + k0
            for p in range(p_lo, p_hi):
                b_off = p * K * NR + k0 * NR
                c, c_off, c_ld = (out, m0 * ldc + p * NR, ldc) if p < full else \
                    (last, m0 * NR, NR)
                if a_cols and k0 == 0:
                    _strip_cols(a, a_off, lda, bp, b_off, kc, c, c_off, c_ld, rows)
                elif a_cols:
                    _strip_cols_add(a, a_off, lda, bp, b_off, kc, c, c_off, c_ld, rows)
                elif k0 == 0:
                    _strip(a, a_off, lda, bp, b_off, kc, c, c_off, c_ld, rows)
                else:
                    _strip_add(a, a_off, lda, bp, b_off, kc, c, c_off, c_ld, rows)
    if p_lo <= full < p_hi:  # the last panel's valid columns
        for m in range(m_lo, m_hi):
            for n in range(N - full * NR):
                out[m, full * NR + n] = last[m, n]


def matmul(a, b, *, a_transposed=False, shards=None):
    """a @ b on the register tile, on all the cores: a (M, K) and b (K, N), or a given as its
    transpose (K, M) with ``a_transposed`` (a weight gradient's x^T dG, x read in place); out
    (M, N) float32 or float64, contiguous. b is packed (``pack``), then each core computes
    its share of the panels (or of the rows, ``splits_panels``) in blocks of K_BLOCK x
    M_BLOCK."""
    K, N = b.shape
    M = a.shape[1] if a_transposed else a.shape[0]
    if (a.shape[0] if a_transposed else a.shape[1]) != K:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match")
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        raise TypeError(f"matmul: two float32 or two float64 arrays, not {a.dtype} and "
                        f"{b.dtype}")
    return times_packed(a, pack(b), N, a_transposed=a_transposed, shards=shards)


def splits_panels(P, M, n) -> bool:
    """Whether ``n`` cores share a product's P panels (else its M rows): where each core gets
    at least two panels and the busiest core's share of the panels, over an even split, is
    no larger than its share of the rows in tiles of MR. An odd panel count on two cores
    leaves one core idle for a panel's time: textgen's joined weight gradient, (1024 x 3200)
    by (3200 x 288), 9 panels, took 4.55 ms split by panels and 3.83 by rows (0.83x, paired,
    session 21); (64,100,256,512)'s, 24 panels, measured level either way."""
    if P < 2 * n:
        return False
    panels = -(-P // n) * n / P  # the busiest core's panels over P / n
    rows = -(-M // (n * MR)) * n * MR / M  # and its rows, in whole tiles, over M / n
    return panels <= rows


def times_packed(a, bp, N, *, a_transposed=False, shards=None):
    """``matmul``'s product for b already packed, bp = pack(b) (P, K, NR) with b (K, N): a
    caller that writes b's rows straight into panels saves ``pack``'s pass over them (the
    joined weight gradients, ``rnnkit.core.weight_grads``)."""
    P, K, NR = bp.shape
    M = a.shape[1] if a_transposed else a.shape[0]
    if (a.shape[0] if a_transposed else a.shape[1]) != K or not (P - 1) * NR < N <= P * NR:
        raise ValueError(f"times_packed: shapes {a.shape} and {bp.shape} (N = {N}) do not "
                         "match")
    if a.dtype != bp.dtype:
        raise TypeError(f"times_packed: a is {a.dtype}, the panels {bp.dtype}")
    a = np.ascontiguousarray(a)
    out = aligned.empty((M, N), bp.dtype)  # (M, N)
    last = np.empty((M if N % NR else 0, NR), bp.dtype)  # (M, NR) the last, partial panel
    n = cores() if shards is None else shards
    by_panels = splits_panels(P, M, n)
    rows = P if by_panels else M  # what the shards split
    run_sharded(_blocked_product, (a, a_transposed, bp, out, last, by_panels, K_BLOCK,
                                   M_BLOCK), rows, max(1, min(n, rows)))
    return out


def dot(a, b, *, a_transposed=False):
    """a @ b for 2-D a (M, K) and b (K, N), or a.T @ b for a given as (K, M) with
    ``a_transposed``: on the register tile on all the cores (``matmul``) where
    ``rnnkit.core.paths.products_on_tile`` says it is the faster; on this thread where
    OpenBLAS would split a product too small for that over its threads
    (``rnnkit.core.paths.small_product``): on the tile, or in ``rnnkit.core.narrow`` for
    fewer than PRODUCT_MIN_COLS columns; else NumPy's BLAS."""
    M, K = a.shape[::-1] if a_transposed else a.shape
    N = b.shape[1]
    if a.dtype == b.dtype and a.dtype in (np.float32, np.float64) and b.shape[0] == K:
        if paths.products_on_tile(M, K, N):
            return matmul(a, b, a_transposed=a_transposed)
        if paths.small_product(M, K, N):
            if N >= paths.PRODUCT_MIN_COLS:
                return matmul(a, b, a_transposed=a_transposed, shards=1)
            if a_transposed:
                return narrow.transposed_times_narrow(a, b)  # (M, N)
            return narrow.times_narrow(a, b)  # (M, N)
    return a.T @ b if a_transposed else a @ b


def input_projection(x, w):
    """x @ w.T for x (R, K) and w (N, K): a layer's input projection x_t W_ih^T of all steps.

    NumPy's matmul takes a slow loop, not BLAS, when K = 1 (a univariate series): 0.47 ms for
    (1600, 1) x (1, 256), against 0.07 ms for ``matmul_packed`` on one thread and 0.04 ms for
    NumPy at K = 2 (benchmarks/README.md, session 11). For K >= 2, ``dot``: NumPy's BLAS, or
    the tile where the BLAS is the narrower."""
    if x.shape[1] != 1 or x.dtype not in (np.float32, np.float64) or x.dtype != w.dtype:
        return dot(x, w.T)
    out = aligned.empty((x.shape[0], w.shape[0]), x.dtype)  # (R, N)
    matmul_packed(np.ascontiguousarray(x), 0, pack(np.ascontiguousarray(w.T)), out)
    return out

