"""The pulsed update (MODEL.md sections 3.3, 4 and 5): its mean is the SGD step, the weights stay
within each device's bounds, and pulse type "none" is the exact float update."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import bounds, ideal_device, uniform
from rpusim import AnalogTile, RPUConfig, UpdateParameters
from rpusim.devices import ConstantStep

F32 = np.float32


@pytest.mark.parametrize(
    ("um", "ublm", "lr"),
    [(True, True, 0.0005), (True, True, 0.003), (True, False, 0.002), (False, False, 0.002)],
)
def test_mean_update_is_the_sgd_step(
    rng: np.random.Generator, um: bool, ublm: bool, lr: float
) -> None:
    dw_min, n = 0.001, 3000
    update = UpdateParameters(update_management=um, update_bl_management=ublm)
    tile = AnalogTile(10, 12, RPUConfig(device=ideal_device(10.0, dw_min=dw_min), update=update))
    x = uniform(rng, -1, 1, 12)
    d = uniform(rng, -1, 1, 10)
    # The same sample n times in one call: n independent draws of the pulse trains.
    tile.update(np.tile(x, (n, 1)), np.tile(d, (n, 1)), lr)
    change = tile.get_weights().astype(np.float64)
    # Expected pulses of device (i, j) per sample m = lr |d_i| |x_j| / dw_min, out of BL
    # coincidence chances with probability q = m / BL each (no probability is clipped at 1).
    k = lr * np.abs(x).max() * np.abs(d).max() / dw_min
    bl = min(math.ceil(k), 31) if ublm else 31
    m = lr * np.outer(np.abs(d), np.abs(x)).astype(np.float64) / dw_min
    assert m.max() <= bl
    expected = -n * lr * np.outer(d, x).astype(np.float64)
    se = dw_min * np.sqrt(n * bl * (m / bl) * (1 - m / bl))
    z = (change - expected) / se
    assert np.abs(z).max() < 5, z
    assert 0.55 < (z**2).mean() < 1.6  # the spread is that of the pulse statistics, too
    # Gradient-descent direction for every device.
    assert (np.sign(change) == -np.sign(np.outer(d, x))).all()


def test_weights_stay_within_each_devices_bounds(rng: np.random.Generator) -> None:
    tile = AnalogTile(48, 64, RPUConfig(device=ConstantStep()), seed=5)
    b_min, b_max = bounds(tile)
    # The bounds are drawn per device: w_max (1 + 0.3 xi), w_min (1 + 0.3 xi).
    n = b_max.size
    assert (b_min <= 0).all() and (b_max >= 0).all()
    assert abs(b_max.mean() - 0.6) < 4 * 0.18 / np.sqrt(n)
    assert abs(b_min.mean() + 0.6) < 4 * 0.18 / np.sqrt(n)
    assert abs(b_max.std() - 0.18) < 4 * 0.18 / np.sqrt(2 * n)
    assert abs(np.corrcoef(b_max.ravel(), b_min.ravel())[0, 1]) < 4 / np.sqrt(n)
    # Large updates pushing every device steadily one way, then random ones.
    x = np.ones((32, 64), F32)
    d = np.tile(np.sign(uniform(rng, -1, 1, 48)), (32, 1)).astype(F32)
    for _ in range(10):
        tile.update(x, d, 1.0)
        w = tile.get_weights()
        assert ((b_min <= w) & (w <= b_max)).all()
    at_bound = (w == b_min) | (w == b_max)
    assert at_bound.mean() > 0.9
    for _ in range(5):
        tile.update(uniform(rng, -1, 1, (32, 64)), uniform(rng, -1, 1, (32, 48)), 1.0)
        w = tile.get_weights()
        assert ((b_min <= w) & (w <= b_max)).all()


def test_pulse_type_none_is_the_exact_float_update(rng: np.random.Generator) -> None:
    config = RPUConfig(update=UpdateParameters(pulse_type="none"))
    tile = AnalogTile(20, 30, config, seed=6)
    b_min, b_max = bounds(tile)
    tile.set_weights(uniform(rng, -0.3, 0.3, (20, 30)))
    w = tile.get_weights()
    for lr in (0.05, 2.0):  # the second drives many weights into their bounds
        x = uniform(rng, -1, 1, (4, 30))
        d = uniform(rng, -1, 1, (4, 20))
        tile.update(x, d, lr)
        for b in range(4):  # sample by sample, in float32, clipped after each
            w = np.minimum(np.maximum(w - (F32(lr) * d[b][:, None]) * x[b][None, :], b_min), b_max)
        np.testing.assert_array_equal(tile.get_weights(), w)
    assert ((w == b_min) | (w == b_max)).mean() > 0.2


def test_deterministic_implicit_without_device_noise_ignores_the_seed(
    rng: np.random.Generator,
) -> None:
    config = RPUConfig(
        device=ideal_device(), update=UpdateParameters(pulse_type="deterministic_implicit")
    )
    x = uniform(rng, -1, 1, (8, 12))
    d = uniform(rng, -1, 1, (8, 10))
    weights = []
    for seed in (1, 2):
        tile = AnalogTile(10, 12, config, seed=seed)
        tile.update(x, d, 0.01)
        weights.append(tile.get_weights())
    np.testing.assert_array_equal(weights[0], weights[1])
    # Whole pulses of exactly dw_min.
    pulses = weights[0] / F32(0.001)
    np.testing.assert_allclose(pulses, np.round(pulses), atol=1e-3)
    assert np.abs(pulses).max() >= 1


def test_zero_learning_rate_or_input_changes_nothing(rng: np.random.Generator) -> None:
    tile = AnalogTile(10, 12, RPUConfig(), seed=7)
    tile.set_weights(uniform(rng, -0.3, 0.3, (10, 12)))
    w = tile.get_weights()
    tile.update(uniform(rng, -1, 1, (4, 12)), uniform(rng, -1, 1, (4, 10)), 0.0)
    tile.update(np.zeros((4, 12), F32), uniform(rng, -1, 1, (4, 10)), 0.1)
    tile.update(uniform(rng, -1, 1, (4, 12)), np.zeros((4, 10), F32), 0.1)
    np.testing.assert_array_equal(tile.get_weights(), w)
    assert tile.counters.update == 3


def test_the_engine_counts_the_pulses_it_applies(rng: np.random.Generator) -> None:
    """`AnalogTile.pulses` counts every pulse: one per device for `pulse`, none for a zero
    learning rate, and on average BL p_x p_d per device and sample for an update (MODEL.md
    3.3), with the binomial spread of the coincidences."""
    tile = AnalogTile(20, 30, RPUConfig(device=ConstantStep(dw_min_std=0.0)), seed=3)
    assert tile.pulses == 0
    tile.pulse(True)
    assert tile.pulses == 20 * 30
    x = uniform(rng, -1, 1, (400, 30))
    d = uniform(rng, -0.2, 0.2, (400, 20))
    tile.update(x, d, 0.0)
    assert tile.pulses == 20 * 30
    lr, dw_min, bl_max = 0.01, 0.001, 31
    tile.update(x, d, lr)
    counted = tile.pulses - 20 * 30
    expected, variance = 0.0, 0.0
    for xb, db in zip(x.astype(np.float64), d.astype(np.float64)):
        x_max, d_max = np.abs(xb).max(), np.abs(db).max()
        k = lr * x_max * d_max / dw_min
        bl = min(math.ceil(k), bl_max)
        scale = np.sqrt(lr / (dw_min * bl))
        d_val = d_max * (bl_max / k if k > bl_max else 1.0)
        p_x = np.minimum(1, scale * np.sqrt(d_val / x_max) * np.abs(xb))
        p_d = np.minimum(1, scale * np.sqrt(x_max / d_val) * np.abs(db))
        q = np.outer(p_d, p_x)  # the chance of a coincidence in one of the BL slots
        expected += bl * q.sum()
        variance += (bl * q * (1 - q)).sum()
    # A row's coincidences share its train, so the counts are correlated and spread more than
    # binomially: allow ten binomial standard errors (about 3 % of the count here).
    assert abs(counted - expected) < 10 * np.sqrt(variance), (counted, expected)
    # Saved with the state.
    assert AnalogTile.from_bytes(tile.to_bytes()).pulses == tile.pulses
