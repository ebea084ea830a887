"""Before any test compiles or loads a numba kernel: drop the kernels' cache if a source
under rnnkit/core changed since it was written (numba checks only each function's own file;
``rnnkit.core.kernel_cache``). Once, in the main process, before pytest-xdist's workers."""
from rnnkit.core.kernel_cache import drop_stale


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without -n)
        drop_stale()
