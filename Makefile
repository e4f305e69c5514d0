# rpusim: the commands the README names.
#
#   make demo    build the extension (release) and run the main job, examples/mnist_mlp.py
#   make test    lint, the Rust engine tests, the docs (make docs), then the Python tests against
#                the wheel installed into two test environments: one with the latest torch, one
#                with the oldest the package supports (TORCH_OLDEST)
#   make lint    rustfmt, clippy (warnings are errors), cargo doc of the engine (warnings and
#                undocumented public items are errors), ruff check, ruff format --check,
#                mypy --strict on the package, mypy.stubtest of _native.pyi against the extension
#   make wheel   one abi3 wheel (CPython >= 3.9) in dist/, built with the release profile (fat
#                LTO, one codegen unit)
#   make docs    the documentation site (mkdocs, the API from the docstrings) into site/, with
#                warnings as errors; `make test` builds it too
#   make bench   tile benchmark against a float32 numpy GEMM (bench/tile_bench.py)
#   make clean   remove build products (keeps the virtual environments; `make distclean` removes
#                them too)
#
# Development runs from the virtual environment .venv at the repository root (the package
# installed editable by `make build`), which the first target that needs it creates. The Python
# tests of `make test` run instead in .venv-test and .venv-test-oldest, which hold no source
# tree: only the test requirements and the wheel of `make wheel`. Extra arguments:
# make demo DEMO_ARGS="--epochs 3", make bench BENCH_ARGS="--sizes 256 --threads 1",
# make test PYTEST_ARGS="-x".

SHELL := /bin/bash

VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
# torch from PyPI is the CUDA build (about 4 GB); pip keeps an installed one as it is.
VENV_PACKAGES := maturin numpy scikit-learn matplotlib pytest ruff mypy torch tqdm \
  mkdocs mkdocs-material 'mkdocstrings[python]'
VENV_IMPORTS := maturin, numpy, sklearn, matplotlib, pytest, ruff, mypy, torch, tqdm, \
  mkdocs, material, mkdocstrings, mkdocstrings_handlers.python

# The one version, the Cargo workspace's (pyproject.toml declares it dynamic), names the wheel.
VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
WHEEL = dist/rpusim-$(VERSION)-cp39-abi3-*.whl

# The test environments: the Python tests' requirements, a torch, and the installed wheel.
# TORCH_OLDEST is the minimum pyproject.toml declares ("torch>=2.10"), so what is declared is
# what is tested: pip's torch==2.10 is 2.10.0. .venv-test gets the latest torch when created.
TORCH_OLDEST := $(shell sed -n 's/.*"torch>=\([0-9.]*\)".*/\1/p' pyproject.toml | head -n1)
TEST_PACKAGES := numpy pytest scikit-learn matplotlib tqdm
TEST_VENV := $(CURDIR)/.venv-test
TEST_VENV_OLDEST := $(CURDIR)/.venv-test-oldest

# pyo3's build script (run by clippy) reads the interpreter of .venv, as it does under maturin.
export PYO3_PYTHON := $(PY)
# maturin (develop and build alike) gives pyo3's build script a configuration file it writes
# into target/maturin and PYO3_BUILD_EXTENSION_MODULE=1. clippy gets the same two once the file
# exists; with other values each of them made cargo rebuild pyo3 and the extension after the
# other (half a minute each time).
PYO3_AS_MATURIN = $(if $(PYO3_MATURIN_CONFIG),PYO3_CONFIG_FILE=$(PYO3_MATURIN_CONFIG) PYO3_BUILD_EXTENSION_MODULE=1)
PYO3_MATURIN_CONFIG = $(firstword $(wildcard $(CURDIR)/target/maturin/pyo3-config-*-abi3.txt))

DEMO_ARGS ?=
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all demo test test-rust test-python lint docs build wheel bench venv clean distclean

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

# mypy reads [tool.mypy] of pyproject.toml (strict, python/rpusim). stubtest imports the built
# extension (hence build) and compares it with _native.pyi.
lint: build
	cargo fmt --all -- --check
	$(PYO3_AS_MATURIN) cargo clippy --workspace --all-targets --release -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc -p rpusim --no-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy.stubtest rpusim._native

test: lint test-rust docs test-python

# mkdocs.yml: the pages of docs/ and the API that mkdocstrings reads from the docstrings of
# python/rpusim (statically, with griffe, and _native.pyi; tools/griffe_rest_markup.py turns
# their Sphinx roles and doctest blocks into Markdown, and its examples are tested first).
# --strict: a warning (a broken link, a docstring that names a parameter the signature lacks)
# fails the build. NO_MKDOCS_2_WARNING silences the theme's banner about MkDocs 2. The figure docs/crossbar.svg must be what
# tools/crossbar_figure.py draws, and the README's quickstart must print what the README says
# (tools/check_readme.py runs it with the built package, hence build).
docs: build
	$(PY) -m doctest tools/griffe_rest_markup.py
	$(PY) tools/crossbar_figure.py --check
	$(PY) tools/check_readme.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The binding crate is a cdylib without tests of its own (test = false): its behaviour is
# tested from Python.
test-rust:
	cargo test -p rpusim --release

# A test environment: created once (the stamp), then pip only adds what a changed Makefile or
# pyproject.toml asks for. $(1): its directory, $(2): the torch requirement.
define test_venv
	test -x $(1)/bin/python || python3 -m venv $(1)
	$(1)/bin/python -m pip install -q -U pip
	$(1)/bin/python -m pip install $(TEST_PACKAGES) $(2)
	$(1)/bin/python -c "import numpy, pytest, sklearn, matplotlib, tqdm, torch"
	touch $(1)/.stamp
endef

$(TEST_VENV)/.stamp: Makefile pyproject.toml
	$(call test_venv,$(TEST_VENV),torch)

$(TEST_VENV_OLDEST)/.stamp: Makefile pyproject.toml
	test -n "$(TORCH_OLDEST)"
	$(call test_venv,$(TEST_VENV_OLDEST),torch==$(TORCH_OLDEST))

# Installs the wheel into the test environment $(1) (only the wheel: the stamp keeps the rest)
# and runs the tests there. Its pytest puts tests/ on sys.path but not the repository, and
# python/ is nowhere on it, so `import rpusim` is the wheel's; RPUSIM_TEST_INSTALLED=1 makes
# tests/conftest.py check that, and RPUSIM_TEST_TORCH=$(2) the torch it runs with.
define installed_tests
	$(1)/bin/python -m pip install -q --force-reinstall --no-deps $(WHEEL)
	RPUSIM_TEST_INSTALLED=1 RPUSIM_TEST_TORCH=$(2) $(1)/bin/pytest -q tests $(PYTEST_ARGS)
endef

test-python: wheel $(TEST_VENV)/.stamp $(TEST_VENV_OLDEST)/.stamp
	$(call installed_tests,$(TEST_VENV),latest)
	$(call installed_tests,$(TEST_VENV_OLDEST),$(TORCH_OLDEST))

# maturin builds with Cargo's release profile (--release; pyproject's [tool.maturin] says so
# too), which has lto = "fat" and codegen-units = 1. An older wheel of this version goes first,
# so that dist/ holds exactly one.
wheel: $(STAMP)
	test -n "$(VERSION)"
	rm -f $(WHEEL)
	$(VENV)/bin/maturin build --release -o dist
	ls $(WHEEL)

bench: build
	$(PY) bench/tile_bench.py $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf dist site python/rpusim/_native*.so python/rpusim/_native*.pyd
	find . \( -path ./.venv -o -path ./.venv-test -o -path ./.venv-test-oldest \) -prune -o -type d \
	  \( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache -o -name .mypy_cache \) -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(TEST_VENV) $(TEST_VENV_OLDEST)
