"""``drop_stale``: numba's cache of the core kernels goes when any source there changes."""
from rnnkit.core import kernel_cache


def _tree(tmp_path):
    root = tmp_path / "core"
    (root / "cells" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "kernels.py").write_text("def loop(): pass\n")
    (root / "step_kernels.py").write_text("def step(): pass\n")
    (root / "cells" / "lstm.py").write_text("x = 1\n")
    return root


def _cached(root):
    files = [root / "__pycache__" / "kernels.loop-1.py311.nbi",
             root / "__pycache__" / "kernels.loop-1.py311.1.nbc",
             root / "cells" / "__pycache__" / "lstm.f-1.py311.nbi"]
    for f in files:
        f.write_bytes(b"cached")
    return files


def test_a_changed_source_drops_every_cached_kernel_once(tmp_path):
    root = _tree(tmp_path)
    assert kernel_cache.drop_stale(root)  # no stamp yet: whatever is cached is unknown
    files = _cached(root)
    assert not kernel_cache.drop_stale(root)  # unchanged: the cache stays
    assert all(f.exists() for f in files)
    (root / "step_kernels.py").write_text("def step(): return 1\n")  # the inlined file
    assert kernel_cache.drop_stale(root)
    assert not any(f.exists() for f in files)
    assert (root / "kernels.py").exists() and (root / "step_kernels.py").exists()
    files = _cached(root)
    assert not kernel_cache.drop_stale(root)
    (root / "cells" / "gru.py").write_text("y = 2\n")  # a new source counts as well
    assert kernel_cache.drop_stale(root)
    assert not any(f.exists() for f in files)


def test_a_folder_that_cannot_be_written_is_left_alone(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    files = _cached(root)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")
    monkeypatch.setattr(type(root), "unlink", refuse)
    assert not kernel_cache.drop_stale(root)
    assert all(f.exists() for f in files)
