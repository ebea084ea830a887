"""``python -m rnnkit.nn.precompile`` runs every kernel path once per dtype (so that numba's
cache holds them before the first real run) and leaves the kernels' settings as it found
them."""
import numpy as np

from rnnkit.core import kernels, paths
from rnnkit.nn import precompile


def test_each_dtype_runs_every_path_and_restores_the_settings(monkeypatch):
    calls = []
    for name in ("scan_forward", "scan_backward"):
        original = getattr(kernels, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            path = ("fused" if paths.FUSED_MAX_MACS else
                    "sharded" if paths.SHARDED_MAX_BATCH else "blas")
            data = args[1] if args[1] is not None else kwargs["x"]  # gx, or x to project
            calls.append((_name, path, data.dtype))
            return _original(*args, **kwargs)
        monkeypatch.setattr(kernels, name, spy)
    before = paths.FUSED_MAX_MACS, paths.SHARDED_MAX_BATCH, paths.cores
    precompile.compile_dtype("float64")
    assert (paths.FUSED_MAX_MACS, paths.SHARDED_MAX_BATCH, paths.cores) == before
    assert {dt for _, _, dt in calls} == {np.dtype("float64")}
    assert {(name, path) for name, path, _ in calls} == {
        (name, path) for name in ("scan_forward", "scan_backward")
        for path in ("fused", "sharded", "blas")}


def test_an_unknown_dtype_is_refused(capsys):
    assert precompile.main(["float16"]) == 2
    assert "unknown dtype float16" in capsys.readouterr().err
