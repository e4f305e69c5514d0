"""Shared fixtures of the rpusim Python tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np
import pytest
import rpusim


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
