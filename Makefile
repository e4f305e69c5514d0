# rpusim: the commands the README names.
#
#   make demo    build the extension (release) and run the main job, examples/mnist_mlp.py
#   make test    build, lint, then the Rust engine tests and the Python tests
#   make lint    rustfmt, clippy (warnings are errors), ruff check, ruff format --check
#   make wheel   one abi3 wheel (CPython >= 3.9) in dist/
#   make bench   tile benchmark against a float32 numpy GEMM (bench/tile_bench.py)
#   make clean   remove build products (keeps .venv; `make distclean` removes it too)
#
# Everything Python runs from the virtual environment .venv at the repository root, which the
# first target that needs it creates. Extra arguments: make demo DEMO_ARGS="--epochs 3",
# make bench BENCH_ARGS="--sizes 256 --threads 1", make test PYTEST_ARGS="-x".

SHELL := /bin/bash

VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
# torch from PyPI is the CUDA build (about 4 GB); pip keeps an installed one as it is.
VENV_PACKAGES := maturin numpy scikit-learn matplotlib pytest ruff torch tqdm
VENV_IMPORTS := maturin, numpy, sklearn, matplotlib, pytest, ruff, torch, tqdm

# pyo3's build script (run by clippy) reads the interpreter of .venv, as it does under maturin.
export PYO3_PYTHON := $(PY)

DEMO_ARGS ?=
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all demo test lint build wheel bench venv clean distclean

all: demo

# The stamp stands for "every package above imports from .venv". An existing .venv that already
# has them all only gets the stamp; otherwise pip installs what is missing.
# Re-checked when this file (and so the package list) changes.
$(STAMP): Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	if ! $(PY) -c "import $(VENV_IMPORTS)" 2>/dev/null \
	    || ! test -x $(VENV)/bin/maturin || ! test -x $(VENV)/bin/ruff; then \
	  $(PY) -m pip install -U pip && $(PY) -m pip install $(VENV_PACKAGES); \
	fi
	$(PY) -c "import $(VENV_IMPORTS)"
	touch $@

venv: $(STAMP)

# Builds the extension module rpusim._native (release) into python/rpusim/ and installs the
# package into .venv in editable mode. cargo decides what needs rebuilding.
build: $(STAMP)
	env -u CONDA_PREFIX VIRTUAL_ENV=$(VENV) $(VENV)/bin/maturin develop --release

demo: build
	$(PY) examples/mnist_mlp.py $(DEMO_ARGS)

lint: $(STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The binding crate is a cdylib without tests of its own (test = false): its behaviour is
# tested from Python.
test: build lint
	cargo test -p rpusim --release
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

wheel: $(STAMP)
	$(VENV)/bin/maturin build --release -o dist

bench: build
	$(PY) bench/tile_bench.py $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf dist python/rpusim/_native*.so python/rpusim/_native*.pyd
	find . -path ./.venv -prune -o -type d \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache \) -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
