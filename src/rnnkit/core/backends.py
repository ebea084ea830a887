"""Choice of the time-loop implementation: the NumPy reference or the fused numba kernels."""
from __future__ import annotations

from types import ModuleType

BACKENDS = ("auto", "numpy", "numba")


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def get_backend(name: str = "auto") -> ModuleType:
    """Module with ``scan_forward`` and ``scan_backward`` for ``name`` in BACKENDS."""
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; expected one of {BACKENDS}")
    if name == "numba" or (name == "auto" and numba_available()):
        try:
            from rnnkit.core import kernels
        except ImportError as exc:
            if name == "numba":
                raise ImportError(
                    "backend='numba' needs numba: pip install 'rnnkit[fast]'"
                ) from exc
        else:
            return kernels
    from rnnkit.core import scan

    return scan
