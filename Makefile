# mosaic: `make dataset` and `make test` work on a fresh clone; both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mosaic-installed
SCENES ?= synthetic
ROOT ?=
OUT ?= out/$(SCENES)
WORKERS ?= 2
SEED ?= 0
# Extras installed into the development environment; torch is pinned to its CPU build.
EXTRAS ?= dev,warp,open3d,torch,slurm,ray,scannetpp

.PHONY: env dataset test lint clean

env: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@# Open3D's wheel links libusb at import time; install the Debian package only when missing.
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then \
		echo "installing Debian package libusb-1.0-0 (needed by open3d)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libusb-1.0-0; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

dataset: $(STAMP)
	$(VENV)/bin/mosaic dataset --scenes "$(SCENES)" --root "$(ROOT)" --out "$(OUT)" --workers $(WORKERS) --seed $(SEED)

test: $(STAMP)
	$(VENV)/bin/ruff check mosaic tests benchmarks
	$(VENV)/bin/python -m pytest -q -x

lint: $(STAMP)
	$(VENV)/bin/ruff check mosaic tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
