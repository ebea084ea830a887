# Quick start: `make demo` (main job on the embedded default) and `make test` (the test suite).
# Each target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench bench-classify bench-forecast clean

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed-base
	$(VENV)/bin/rnnkit forecast

# two workers (pytest-xdist): the suite on both cores. On a clean clone each worker compiles
# the numba kernels it meets (~110 s of the wall time); sharing that work by file or by dtype
# was measured and did not shorten the run
test: $(VENV)/.installed-test
	$(PY) -m rnnkit.nn.precompile
	$(PY) -m pytest -n 2

bench: $(VENV)/.installed-test
	$(VENV)/bin/rnnkit bench --out BENCHMARKS.md

# The classification and forecasting development suites beside their peers (aeon,
# statsforecast), in a separate environment.
.venv-bench/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -e ".[bench]"
	touch $@

bench-classify: .venv-bench/.installed
	.venv-bench/bin/python benchmarks/classify/run.py

bench-forecast: .venv-bench/.installed
	.venv-bench/bin/python benchmarks/forecast/run.py

clean:
	rm -rf $(VENV) .venv-bench build src/*.egg-info .pytest_cache
