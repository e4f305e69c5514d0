"""Python threads: engine calls release the GIL, and calls on one tile from two threads are
serialised (no error, results of some sequential order)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np
import pytest
import rpusim
from helpers import uniform
from rpusim import AnalogTile, RPUConfig


class Spinner:
    """A Python thread that counts as fast as it can until stopped."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.count += 1

    def __enter__(self) -> Spinner:
        self._thread.start()
        time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def progress_during(call: Callable[[], Any], spinner: Spinner) -> tuple[int, float]:
    c0, t0 = spinner.count, time.perf_counter()
    call()
    return spinner.count - c0, time.perf_counter() - t0


@pytest.mark.usefixtures("restore_threads")
def test_engine_calls_release_the_gil(rng: np.random.Generator) -> None:
    rpusim.set_num_threads(1)  # leave a core to the counting thread
    tile = AnalogTile(2048, 2048, seed=1)
    tile.set_weights(uniform(rng, -0.3, 0.3, (2048, 2048)))
    x = uniform(rng, -1, 1, (256, 2048))
    with Spinner() as spinner:
        # The counting rate with the GIL free for it most of the time.
        free, free_time = progress_during(lambda: time.sleep(0.1), spinner)
        rate = free / free_time
        # Holding the GIL in a long call would stop the counter for all but one switch
        # interval (5 ms) of it; released, it keeps counting.
        fractions = []
        for _ in range(3):
            count, seconds = progress_during(lambda: tile.forward(x), spinner)
            fractions.append(count / (rate * seconds))
            if seconds > 0.05 and fractions[-1] > 0.15:
                break
    assert max(fractions) > 0.15, (fractions, rate)


def test_two_threads_on_one_tile_are_serialised(rng: np.random.Generator) -> None:
    config = RPUConfig()
    tile = AnalogTile(128, 256, config, seed=3)
    twin = AnalogTile(128, 256, config, seed=3)
    w = uniform(rng, -0.3, 0.3, (128, 256))
    tile.set_weights(w)
    twin.set_weights(w)
    x = uniform(rng, -1, 1, (64, 256))
    d = uniform(rng, -1, 1, (64, 128))
    errors: list[BaseException] = []
    outputs: list[bytes] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        try:
            barrier.wait()
            tile.update(x, d, 0.01)
            outputs.append(tile.forward(x).tobytes())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert tile.counters == (2, 0, 2)
    # Both updates had the same inputs, so the possible orders are: update, update, forward,
    # forward; or update, forward, update, forward.
    twin.update(x, d, 0.01)
    interleaved = [twin.forward(x).tobytes()]
    twin.update(x, d, 0.01)
    interleaved.append(twin.forward(x).tobytes())
    grouped_twin = AnalogTile(128, 256, config, seed=3)
    grouped_twin.set_weights(w)
    grouped_twin.update(x, d, 0.01)
    grouped_twin.update(x, d, 0.01)
    grouped = [grouped_twin.forward(x).tobytes(), grouped_twin.forward(x).tobytes()]
    # (in either order: a thread appends its result after the tile is free again)
    assert sorted(outputs) in (sorted(interleaved), sorted(grouped))
    assert tile.to_bytes() == twin.to_bytes() == grouped_twin.to_bytes()


def test_many_threads_many_tiles(rng: np.random.Generator) -> None:
    tiles = [AnalogTile(64, 64, seed=s) for s in range(4)]
    x = uniform(rng, -1, 1, (32, 64))
    expected = [AnalogTile(64, 64, seed=s).forward(x).tobytes() for s in range(4)]
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        results[i] = tiles[i].forward(x).tobytes()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(4)] == expected
