"""Randomness (MODEL.md section 7): the same seed and calls give the same bits, another seed
other bits, and the thread count changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import rpusim
from helpers import uniform
from rpusim import AnalogTile, IOParameters, RPUConfig


def noisy_config() -> RPUConfig:
    """Every random source on: output, input and weight noise, stochastic rounding, d2d and
    c2c device variation, stochastic pulses."""
    io = IOParameters(inp_noise=0.01, w_noise=0.01, inp_sto_round=True, out_sto_round=True)
    return RPUConfig(forward=io, backward=IOParameters(out_noise=0.1, bound_management="none"))


def run(tile: AnalogTile, seed: int, batch: int = 16, lr: float = 0.05) -> list[bytes]:
    """A few training steps; returns the bytes of every result and the final state."""
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    tile.set_weights(uniform(rng, -0.3, 0.3, (tile.out_size, tile.in_size)))
    for _ in range(3):
        x = uniform(rng, -1, 1, (batch, tile.in_size))
        d = uniform(rng, -1, 1, (batch, tile.out_size))
        out.append(tile.forward(x).tobytes())
        out.append(tile.backward(d).tobytes())
        tile.update(x, d, lr)
        out.append(tile.get_weights().tobytes())
    out.append(tile.to_bytes())
    return out


def test_same_seed_same_bits() -> None:
    a = AnalogTile(20, 30, noisy_config(), seed=42)
    b = AnalogTile(20, 30, noisy_config(), seed=42)
    assert a.to_bytes() == b.to_bytes()
    assert run(a, 1) == run(b, 1)


def test_different_seed_different_bits() -> None:
    a = AnalogTile(20, 30, noisy_config(), seed=42)
    b = AnalogTile(20, 30, noisy_config(), seed=43)
    assert a.to_bytes() != b.to_bytes()  # devices drawn differently
    results_a, results_b = run(a, 1), run(b, 1)
    for ra, rb in zip(results_a, results_b):
        assert ra != rb


def test_calls_advance_the_streams() -> None:
    tile = AnalogTile(20, 30, noisy_config(), seed=42)
    x = np.full((4, 30), 0.3, np.float32)
    assert tile.forward(x).tobytes() != tile.forward(x).tobytes()


@pytest.mark.usefixtures("restore_threads")
def test_thread_count_does_not_change_any_bit() -> None:
    # Big enough for the engine's parallel path in all three operations.
    results = {}
    for threads in (1, 2, 7):
        rpusim.set_num_threads(threads)
        assert rpusim.get_num_threads() == threads
        tile = AnalogTile(256, 300, noisy_config(), seed=5)
        results[threads] = run(tile, 2, batch=64, lr=0.002)
    assert results[1] == results[2] == results[7]
