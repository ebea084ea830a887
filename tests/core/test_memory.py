"""rnnkit keeps freed memory for reuse (rnnkit.core.memory): a training step no longer faults
in its buffers' pages afresh, and a user's own malloc settings are kept."""
import json
import os
import subprocess
import sys

import pytest

from rnnkit.core import memory

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None
needs_glibc = pytest.mark.skipif(not GLIBC, reason="not glibc")

PROBE = """
import json, resource
import numpy as np
import rnnkit
from rnnkit.core import memory
def step():  # buffers of 40 MB, past the most glibc ever serves from its heap by default
    for _ in range(3):
        np.ones(10_000_000, np.float32).sum()
step()  # warm-up: the heap reaching its size
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
print(json.dumps(dict(applied=memory.applied, faults=faults)))
"""


def _run(env=None):
    environ = {k: v for k, v in os.environ.items()
               if k not in memory.USER_SETTINGS and k != memory.ENV}
    environ.update(env or {})
    out = subprocess.run([sys.executable, "-c", PROBE], env=environ, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@needs_glibc
def test_a_training_step_reuses_its_memory():
    kept, default = _run(), _run({memory.ENV: "default"})
    assert kept["applied"] == "applied" and default["applied"] == "user"
    # glibc's defaults map each buffer afresh: 3 x 9,766 pages, or 3 x 20 huge pages
    assert kept["faults"] < 10 < default["faults"]


@needs_glibc
def test_a_users_malloc_setting_is_kept():
    assert _run({"MALLOC_TRIM_THRESHOLD_": "131072"})["applied"] == "user"
