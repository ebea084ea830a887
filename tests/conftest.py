"""Under pytest-xdist (`make test`: two workers), each worker first compiles its half of the
numba kernels, float32 on one and float64 on the other, into numba's on-disk cache. On a
clean clone that cache is empty, and without this both workers compile every kernel they
meet, at the same time, each for itself (about 110 s of the suite's wall time)."""
import os

import numpy as np


def _warm_kernels(dtype) -> None:
    from rnnkit.core import kernels
    from rnnkit.nn.recurrent import LAYERS

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2)).astype(dtype)
    lengths = np.array([5, 3, 1])
    small, fused = kernels.FUSED_MAX_MACS, (kernels.FUSED_MAX_MACS, 0)
    try:
        for threshold in fused:  # the whole-loop kernels, then the per-step ones
            kernels.FUSED_MAX_MACS = threshold
            for kind, layer_cls in LAYERS.items():
                layer = layer_cls(2, 4, dtype=dtype, seed=0)
                for lens in (None, lengths):
                    y, _ = layer.forward(x, lengths=lens)
                    layer.backward(np.ones_like(y))
                layer.stream(batch_size=1).step(x[0, 0])
    finally:
        kernels.FUSED_MAX_MACS = small


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...
    if worker and worker[2:].isdigit():
        _warm_kernels((np.float32, np.float64)[int(worker[2:]) % 2])
