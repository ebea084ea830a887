"""The numba product of the time loops, ``rnnkit.core.gemm.matmul_packed``, against NumPy's."""
import numpy as np
import pytest

pytest.importorskip("numba")

from rnnkit.core import gemm  # noqa: E402


# (rows of a, lo, M, K, N): every remainder of the MR-row tile (tiles of 8, 4, 2, 1), one row,
# one k, a last panel with 1 and NR - 1 columns, several panels, a shard starting inside a
@pytest.mark.parametrize("rows,lo,M,K,N", [
    (1, 0, 1, 1, 1), (7, 0, 7, 5, 9), (9, 3, 6, 8, 16), (6, 1, 5, 21, 30),
    (8, 4, 4, 128, 512), (40, 2, 37, 37, 3 * 32 + 1), (2 * gemm.MR + 15, 0, 2 * gemm.MR + 15,
                                                      64, 4 * 32 - 1),
    (gemm.MR, 0, gemm.MR, 3, 32), (30, 5, 25, 200, 600),
    (140, 7, 130, 33, 70)])  # several blocks of ROW_BLOCK rows, the last partial
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_packed_matches_numpy(rows, lo, M, K, N, dtype):
    rng = np.random.default_rng(K * N)
    a = rng.standard_normal((rows, K)).astype(dtype)  # (rows, K)
    b = rng.standard_normal((K, N)).astype(dtype)  # (K, N)
    out = np.full((M, N), np.nan, dtype)  # (M, N): every entry must be written
    gemm.matmul_packed(a, lo, gemm.pack(b), out)
    ref = a[lo : lo + M].astype(np.float64) @ b.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_lays_out_panels_of_nr_columns(dtype):
    NR = gemm.panel_width(dtype)
    assert NR * np.dtype(dtype).itemsize == gemm.NV * gemm.VECTOR_BYTES
    b = np.arange(3 * (2 * NR + 1), dtype=dtype).reshape(3, 2 * NR + 1)  # (K, N)
    bp = gemm.pack(b)  # (P, K, NR)
    assert bp.shape == (3, 3, NR) and bp.flags.c_contiguous
    np.testing.assert_array_equal(bp[1], b[:, NR : 2 * NR])
    np.testing.assert_array_equal(bp[2, :, 0], b[:, 2 * NR])
    assert not bp[2, :, 1:].any()  # the padding is zero


@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_splits_the_panels_over_the_cores_from_its_size_up(monkeypatch, dtype, shards):
    """Above PACK_SHARDED_MIN_BYTES each core packs its share of the panels (here of a
    transposed view, as W_hh^T, with a last panel of 5 columns): the same array as one core."""
    NR = gemm.panel_width(dtype)
    w = np.random.default_rng(1).standard_normal((4 * NR + 5, 33)).astype(dtype)  # (N, K)
    want = np.zeros((5, 33, NR), dtype)  # (P, K, NR), built column by column
    for n in range(4 * NR + 5):
        want[n // NR, :, n % NR] = w[n]
    used = []
    original = gemm.run_sharded
    monkeypatch.setattr(gemm, "run_sharded", lambda f, a, n, s: used.append(s) or
                        original(f, a, n, s))
    monkeypatch.setattr(gemm, "cores", lambda: shards)
    monkeypatch.setattr(gemm, "PACK_SHARDED_MIN_BYTES", w.nbytes)
    np.testing.assert_array_equal(gemm.pack(w.T), want)
    monkeypatch.setattr(gemm, "PACK_SHARDED_MIN_BYTES", w.nbytes + 1)  # below: one core
    np.testing.assert_array_equal(gemm.pack(w.T), want)
    assert used == [shards, 1]


def test_matmul_packed_rejects_mismatched_shapes():
    a, b = np.ones((4, 8), np.float32), np.ones((9, 16), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        gemm.matmul_packed(a, 0, gemm.pack(b), np.empty((4, 16), np.float32))


@pytest.mark.parametrize("K", [1, 2, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_input_projection_matches_numpy(K, dtype):
    rng = np.random.default_rng(K)
    x = rng.standard_normal((37, K)).astype(dtype)  # (R, K)
    w = rng.standard_normal((45, K)).astype(dtype)  # (N, K)
    got = gemm.input_projection(x, w)
    assert got.shape == (37, 45) and got.dtype == dtype
    np.testing.assert_allclose(got, x.astype(np.float64) @ w.T.astype(np.float64),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


AVX2_PROBE = """
import numpy as np
from rnnkit.core import gemm
assert gemm.VECTOR_BYTES == 32 and gemm.MR == 6, (gemm.VECTOR_BYTES, gemm.MR)
rng = np.random.default_rng(0)
worst = 0.0
for M, K, N, dtype in [(37, 70, 100, np.float32), (13, 9, 33, np.float64), (6, 128, 512, np.float32)]:
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    out = np.empty((M, N), dtype)
    gemm.matmul_packed(a, 0, gemm.pack(b), out)
    ref = a.astype(np.float64) @ b
    worst = max(worst, float(np.abs(out - ref).max() / np.abs(ref).max()))
print(worst)
"""


def test_the_avx2_tiles_compile_and_compute(tmp_path):
    """The 6 x 16 tiles that machines without AVX-512 run (the EPYC of earlier sessions),
    compiled here for a Haswell target in a process of their own."""
    import os
    import subprocess
    import sys

    features = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,"
                "+movbe,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f")
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=features,
               NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", AVX2_PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert float(out.strip().splitlines()[-1]) < 1e-5


def test_the_tile_benchmark_runs(capsys, monkeypatch):
    """benchmarks/gemm_tiles.py (benchmarks/README.md's tile table) on one small shape: it
    checks each tile's product against NumPy before timing it."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).parents[2] / "benchmarks" / "gemm_tiles.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--tiles", "4x1x32,2x2x64",
                                      "--shapes", "8,16,40"])
    runpy.run_path(str(script), run_name="__main__")
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0].startswith("| (M, K, N) | 4x1x32 | 2x2x64 |") and len(rows) == 3
    assert all(float(c) > 0 for c in rows[2].strip("|").split("|")[1:])


def test_matmul_packed_rejects_rows_that_are_not_contiguous():
    a, b = np.ones((4, 16), np.float32), np.ones((8, 16), np.float32)
    with pytest.raises(ValueError, match="contiguous"):
        gemm.matmul_packed(a[:, ::2], 0, gemm.pack(b), np.empty((4, 16), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        gemm.pack(np.ones((3, 3), np.int64))


def test_the_tile_prefetches_the_panel_rows_ahead():
    """Each k step asks for the cache lines of the panel's row PREFETCH_ROWS ahead (the
    panels of a W_hh^T past L2 stream from L3, across pages); the product is unchanged."""
    from numba import njit

    tile = gemm._make_tile(4)

    @njit
    def run(a, bp, out):
        tile(a, 0, a.shape[1], bp, 0, a.shape[1], out, 0, out.shape[1])

    rng = np.random.default_rng(0)
    NR = gemm.panel_width(np.float32)
    a = rng.standard_normal((4, 50)).astype(np.float32)  # (4, K)
    b = rng.standard_normal((50, NR)).astype(np.float32)  # (K, NR): one panel
    out = np.empty((4, NR), np.float32)
    run(a, gemm.pack(b), out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    sig = run.signatures[0]
    ir = run.inspect_llvm(sig)
    calls = ir.count("call void @llvm.prefetch")
    lines = max(1, gemm.NV * gemm.VECTOR_BYTES // 64)
    assert calls and calls % lines == 0  # every line of a panel row (LLVM may unroll the loop)
    if "x86_64" in ir:
        assert "prefetcht0" in run.inspect_asm(sig)


def test_the_weight_gradient_benchmark_runs(capsys, monkeypatch):
    """benchmarks/dw_products.py (the tile reading a by columns and adding into c, over
    blocks of K) on small shapes with every remainder tile: it checks its product against
    NumPy before timing it."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).parents[2] / "benchmarks" / "dw_products.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--shapes", "100,24,70;37,16,40;64,8,32",
                                      "--kc", "16,64", "--repeat", "1"])
    runpy.run_path(str(script), run_name="__main__")
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2 + 6 and all(r.startswith("| (") for r in rows[2:])
