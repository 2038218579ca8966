# Two entry points for a new user: `make run` (install + run the pipeline on the
# embedded dataset) and `make test` (install test extras + the whole suite).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU wheel: a bare "torch" requirement would pull a
# multi-GB CUDA build. The project's range (<=2.14.1) accepts it unchanged.
TORCH ?= torch==2.13.0

.PHONY: install install-test run test test-fast lint bench bench-env clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e .
	touch $@

# The dask extra too: tests/flows/test_sweep.py runs a sweep on a Dask LocalCluster.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -e ".[test,dask]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Everything, slow tests included: tests/flows/test_server.py starts a real `prefect server` (its own
# PREFECT_HOME and port), a worker and `genqc serve`, and stops them by PID.
# ruff format --check: the formatter's layout is the house style (`# fmt: skip` only on a real table).
test: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ruff format --check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

test-fast: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -m "not slow"

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks (not tests): every bench/<name>.py, side by side with its peer in one run, writes
# bench/results/<name>.json, then bench/results/README.md (the table README links). QUICK=1: minutes, not hours.
# BENCH_PYTHON=.venv-bench/bin/python measures with the peers that need torchvision (see bench-env).
BENCH_PYTHON ?= $(BIN)/python
bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BENCH_PYTHON) -m bench.run_all $(if $(QUICK),--quick)

# A separate venv for peers that need torchvision, which does not work beside torch 2.13.0: torch 2.14.1 +
# torchvision 0.29.1 (about 5.5 GB of CUDA wheels) and pytorch-fid / torch-fidelity where they install.
# Not built by `make bench`: the benchmarks run in .venv and reimplement those peers' code paths.
BENCH_VENV ?= .venv-bench
bench-env:
	$(PYTHON) -m venv $(BENCH_VENV) || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --upgrade pip
	$(BENCH_VENV)/bin/pip install "torch==2.14.1" "torchvision==0.29.1"
	$(BENCH_VENV)/bin/pip install -e ".[test]"
	$(BENCH_VENV)/bin/pip install pytorch-fid torch-fidelity || echo "pytorch-fid / torch-fidelity did not install"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
