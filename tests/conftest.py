"""Shared fixtures of the rpusim Python tests, and the checks of what they run against.

``make test`` runs the tests against the wheel installed into a test environment, not against
the source tree, and sets two variables that this file checks before any test runs:
``RPUSIM_TEST_INSTALLED=1`` (``rpusim`` and its extension must come from that environment's
site-packages) and ``RPUSIM_TEST_TORCH`` (torch must import; a version such as ``2.10`` must
also match its release: the oldest torch the package declares it supports).
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import rpusim
import rpusim._native

SOURCE_PACKAGE = Path(__file__).resolve().parents[1] / "python" / "rpusim"
"""The package in the source tree, which the installed wheel must not be."""


def _check_installed() -> None:
    """``rpusim`` is the installed wheel: package and extension in this interpreter's
    site-packages (purelib), not python/rpusim of the source tree."""
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for module in (rpusim, rpusim._native):
        path = Path(str(module.__file__)).resolve()
        if site not in path.parents or SOURCE_PACKAGE in path.parents:
            raise pytest.UsageError(
                f"RPUSIM_TEST_INSTALLED=1, but {module.__name__} is {path}, "
                f"not inside {site} (the installed wheel)"
            )


def _check_torch(wanted: str) -> str:
    """torch imports and, when ``wanted`` is a version, is that release; returns its version."""
    try:
        import torch
    except ImportError as e:
        raise pytest.UsageError(
            f"RPUSIM_TEST_TORCH={wanted}, but torch does not import: {e}"
        ) from e
    have = str(torch.__version__).split("+")[0]
    if wanted[:1].isdigit():
        prefix = wanted.split(".")
        if have.split(".")[: len(prefix)] != prefix:
            raise pytest.UsageError(f"RPUSIM_TEST_TORCH={wanted}, but torch is {have}")
    return have


_TESTED_AGAINST: list[str] = []
"""What the checks found, for the end of the report (shown with ``-q`` too)."""


def pytest_configure(config: pytest.Config) -> None:
    where = Path(str(rpusim.__file__)).parent
    line = f"rpusim {rpusim.__version__} from {where}"
    if os.environ.get("RPUSIM_TEST_INSTALLED") == "1":
        _check_installed()
        line += " (the installed wheel, checked)"
    wanted = os.environ.get("RPUSIM_TEST_TORCH")
    if wanted:
        line += f"; torch {_check_torch(wanted)} (RPUSIM_TEST_TORCH={wanted}, checked)"
    _TESTED_AGAINST[:] = [line]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _TESTED_AGAINST:
        terminalreporter.write_line(line)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator for test data."""
    return np.random.default_rng(20260129)


@pytest.fixture
def torch() -> Any:
    """torch, or skip the test when it is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Puts the engine's thread count back after the test."""
    before = rpusim.get_num_threads()
    yield
    rpusim.set_num_threads(before)


@pytest.fixture
def single_threaded(restore_threads: None) -> Iterator[None]:
    """One engine thread and one torch thread, put back after the test (skips without torch).
    Batches of 10 gain nothing from more on 2 cores, and torch's OpenMP threads slow down by
    an order of magnitude when another process (or the engine) keeps a core busy. Results do
    not depend on the thread counts."""
    torch = pytest.importorskip("torch")
    torch_threads = torch.get_num_threads()
    rpusim.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)


@pytest.fixture
def assert_unchanged() -> Callable[[rpusim.AnalogTile], Any]:
    """``with assert_unchanged(tile): ...`` checks that the block leaves the tile's whole state
    (bytes, weights, counters, configuration) as it was."""

    @contextmanager
    def check(tile: rpusim.AnalogTile) -> Iterator[None]:
        before = (tile.to_bytes(), tile.get_weights(), tile.counters, tile.rpu_config)
        yield
        assert tile.to_bytes() == before[0]
        np.testing.assert_array_equal(tile.get_weights(), before[1])
        assert tile.counters == before[2]
        assert tile.rpu_config == before[3]

    return check
