"""Dropping numba's cached kernels when a source they were compiled from has changed.

numba's on-disk cache (``cache=True``) checks only the file of the function it caches: the
time loops in ``kernels.py`` inline the step kernels of ``step_kernels.py`` and call the
product of ``gemm.py``, and keep their cached machine code after either changes. An edited
checkout then runs the old kernels, and its tests pass or fail on code that is not there.
``drop_stale`` keeps a hash of every source under ``rnnkit/core`` in a stamp file and
deletes the cache there when the hash changes. ``python -m rnnkit.nn.precompile`` (the
first step of ``make test``) and the test suite call it; an installed package never changes
its sources, so nothing else needs to.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

CORE = Path(__file__).resolve().parent  # rnnkit/core: every numba kernel that inlines another
STAMP = "rnnkit-kernel-sources.sha256"  # in CORE/__pycache__, beside numba's index files


def sources_digest(root: Path = CORE) -> str:
    """sha256 over the paths and contents of the .py files under root, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def drop_stale(root: Path = CORE) -> bool:
    """Delete numba's cache files (``*.nbi``, ``*.nbc``) under root if its sources changed
    since the last call (or there is no stamp), and record the new digest. True if it
    deleted. Where the folder is not writable (an installed package), nothing happens."""
    digest = sources_digest(root)
    stamp = root / "__pycache__" / STAMP
    try:
        if stamp.read_text().strip() == digest:
            return False
    except OSError:
        pass
    try:
        for cached in [*root.rglob("*.nbi"), *root.rglob("*.nbc")]:
            cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        partial = stamp.with_suffix(".tmp")
        partial.write_text(digest + "\n")
        partial.replace(stamp)  # atomic: a reader sees the old stamp or the new one
    except OSError:
        return False
    return True
