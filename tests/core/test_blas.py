"""OpenBLAS's spin after a call is shortened when rnnkit is imported (rnnkit.core.blas), so
that the batch-sharded time loops get the cores, and the loops take no more shards than
OpenBLAS has threads."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rnnkit.core import blas, paths

OPENBLAS = any(i["internal_api"] == "openblas" for i in threadpool_info())
needs_openblas = pytest.mark.skipif(not OPENBLAS, reason="numpy does not run on OpenBLAS")

PROBE = """
import json, os
{first}
import rnnkit
import numpy as np
from rnnkit.core import blas
a = np.arange(40000, dtype=np.float64).reshape(200, 200) / 40000
print(json.dumps(dict(applied=blas.applied, env=os.environ.get(blas.ENV),
                      exponent=blas.spin_exponent(),
                      product=float((a @ a).sum()), reference=float(np.einsum("ij,jk->", a, a)))))
"""


def _run(first="", env=None):
    environ = {k: v for k, v in os.environ.items() if k != blas.ENV}
    environ.update(env or {})
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env=environ,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@needs_openblas
def test_before_numpy_the_environment_is_set():
    got = _run()
    assert got["applied"] == "environment"
    assert got["env"] == str(blas.SPIN_EXPONENT) and got["exponent"] == blas.SPIN_EXPONENT


@needs_openblas
def test_after_numpy_openblas_restarts_its_workers_and_still_computes():
    got = _run(first="import numpy")
    assert got["applied"] == "restarted"
    assert got["exponent"] == blas.SPIN_EXPONENT
    assert got["product"] == pytest.approx(got["reference"], rel=1e-12)


@needs_openblas
def test_a_users_setting_is_kept():
    got = _run(first="import numpy", env={blas.ENV: "25"})
    assert got["applied"] == "user"
    assert got["env"] == "25" and got["exponent"] == 25


@needs_openblas
def test_the_loops_take_no_more_shards_than_openblas_has_threads():
    with threadpool_limits(1):
        assert blas.blas_threads() == 1
        assert paths.cores() == 1
        assert paths.shards(32, 256, 4) == 1  # one shard: the loop on this thread
    assert paths.cores() == min(blas.blas_threads(), len(os.sched_getaffinity(0)))


def test_which_shapes_take_the_sharded_loop(monkeypatch):
    monkeypatch.setattr(paths, "cores", lambda: 2)
    assert paths.shards(2, 16, 4) == 1  # small: fused, one thread
    assert paths.shards(16, 256, 4) == 2  # LSTM H=256, batch 16
    assert paths.shards(64, 128, 4) == 2
    assert paths.shards(64, 512, 4) == 2  # LSTM H=512: G*H*H = 1,048,576
    assert paths.shards(64, 1024, 1) == 2  # RNN H=1024: G*H*H as the LSTM's at 512
    assert paths.shards(64, 1024, 4) == 0  # LSTM H=1024: BLAS
    assert paths.shards(300, 256, 4) == 0  # batch over 256: BLAS
    assert np.all([paths.shards(b, 256, 4) == 2 for b in (17, 33, 64, 256)])
