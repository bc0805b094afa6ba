# mosaic: `make dataset` and `make test` work on a fresh clone; both create .venv when missing.
# `make dataset` installs the core only (Embree ray casting, HDF5, the CLI); `make test` adds the
# extras the tests exercise (Warp, Open3D, torch, submitit, Ray, PyAV/lz4) and the CPU torch build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CORE_STAMP := $(VENV)/.mosaic-core
TEST_STAMP := $(VENV)/.mosaic-test
SCENES ?= synthetic
ROOT ?=
OUT ?= out/$(SCENES)
WORKERS ?= 2
SEED ?= 0
# Extras of the test environment. The torch extra accepts a range (users bring their own torch);
# here torch is pinned to the CPU build first, which the range then accepts as it is.
TEST_EXTRAS ?= dev,warp,open3d,torch,slurm,ray,scannetpp
TORCH ?= torch==2.13.0

.PHONY: env test-env dataset test lint clean

env: $(CORE_STAMP)

test-env: $(TEST_STAMP)

$(CORE_STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(CORE_STAMP)

$(TEST_STAMP): $(CORE_STAMP)
	@# Open3D's wheel links libusb at import time; install the Debian package only when missing.
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then \
		echo "installing Debian package libusb-1.0-0 (needed by open3d)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libusb-1.0-0; \
	fi
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	@touch $(TEST_STAMP)

dataset: $(CORE_STAMP)
	$(VENV)/bin/mosaic dataset --scenes "$(SCENES)" --root "$(ROOT)" --out "$(OUT)" --workers $(WORKERS) --seed $(SEED)

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check mosaic tests benchmarks docs
	$(VENV)/bin/python -m pytest -q -x

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check mosaic tests benchmarks docs

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
