"""The per-device effects through the Python API: aihwkit's fields on every pulsed device,
decay and diffusion after every update, reset_columns, and the pulse counters (with state)."""

from __future__ import annotations

import numpy as np
import pytest
import rpusim
from rpusim import AnalogTile, RPUConfig
from rpusim.devices import ConstantStep, SoftBounds, VectorUnitCell

EFFECT_DEFAULTS = {
    "diffusion": 0.0,
    "diffusion_dtod": 0.0,
    "lifetime": 0.0,
    "lifetime_dtod": 0.0,
    "reset": 0.0,
    "reset_dtod": 0.0,
    "reset_std": 0.01,
    "count_pulses": False,
}


@pytest.mark.parametrize("cls", [ConstantStep, SoftBounds])
def test_every_pulsed_device_has_aihwkits_effect_fields(cls: type[ConstantStep]) -> None:
    device = cls()
    assert {name: getattr(device, name) for name in EFFECT_DEFAULTS} == EFFECT_DEFAULTS
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.lifetime"):
        cls(lifetime=-1.0)


def _empty_update(tile: AnalogTile) -> None:
    tile.update(
        np.zeros((0, tile.in_size), np.float32), np.zeros((0, tile.out_size), np.float32), 0.1
    )


def test_decay_after_every_update_towards_the_reset_point() -> None:
    device = ConstantStep(lifetime=10.0, reset=0.1, w_max_dtod=0.0, w_min_dtod=0.0)
    tile = AnalogTile(3, 4, RPUConfig(device=device), seed=1)
    tile.set_weights(np.full((3, 4), 0.5, np.float32))
    for _ in range(5):
        _empty_update(tile)
    expected = np.float32(0.5)
    scale = np.float32(1.0 - 1.0 / 10.0)
    for _ in range(5):
        expected = (expected - np.float32(0.1)) * scale + np.float32(0.1)
    np.testing.assert_array_equal(tile.get_weights(), np.full((3, 4), expected, np.float32))


def test_diffusion_spreads_the_weights() -> None:
    device = ConstantStep(diffusion=0.01, w_max=5.0, w_min=-5.0, w_max_dtod=0.0, w_min_dtod=0.0)
    tile = AnalogTile(32, 32, RPUConfig(device=device), seed=2)
    for _ in range(25):
        _empty_update(tile)
    var = float(np.var(tile.get_weights()))
    expected = 25 * 0.01**2
    assert abs(var - expected) < 4 * expected * np.sqrt(2 / 1024), var


def test_reset_columns_and_reset() -> None:
    device = ConstantStep(reset=0.2, reset_std=0.0, w_max_dtod=0.0, w_min_dtod=0.0)
    tile = AnalogTile(3, 5, RPUConfig(device=device), seed=3)
    tile.set_weights(np.full((3, 5), -0.3, np.float32))
    tile.reset_columns(4, 2)
    w = tile.get_weights()
    np.testing.assert_array_equal(w[:, [4, 0]], np.full((3, 2), 0.2, np.float32))
    np.testing.assert_array_equal(w[:, 1:4], np.full((3, 3), -0.3, np.float32))
    tile.reset()
    np.testing.assert_array_equal(tile.get_weights(), np.full((3, 5), 0.2, np.float32))
    with pytest.raises(rpusim.ConfigError, match="reset_prob"):
        tile.reset_columns(0, 1, reset_prob=1.5)
    with pytest.raises(rpusim.ConfigError, match="start_column_idx"):
        tile.reset_columns(5, 1)
    ideal = AnalogTile(2, 2, RPUConfig.floating_point())
    with pytest.raises(ValueError, match="no reset"):
        ideal.reset()


def test_pulse_counts_sum_to_the_pulses_and_survive_the_state() -> None:
    assert AnalogTile(2, 3).get_pulse_counts() is None
    cell = VectorUnitCell([ConstantStep(count_pulses=True), ConstantStep()])
    tile = AnalogTile(4, 6, RPUConfig(device=cell), seed=4)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 6)).astype(np.float32)
    d = rng.uniform(-0.3, 0.3, (8, 4)).astype(np.float32)
    tile.update(x, d, 0.1)
    counts = tile.get_pulse_counts()
    assert counts is not None and counts.dtype == np.uint64 and counts.shape == (2, 4, 6)
    # Both devices of the cell take the same pulses; the counting one has half of them.
    assert 2 * int(counts.sum()) == tile.pulses > 0
    tile.pulse(True)
    after = tile.get_pulse_counts()
    assert after is not None
    np.testing.assert_array_equal(after[1], counts[1] + 1)
    restored = AnalogTile.from_bytes(tile.to_bytes())
    np.testing.assert_array_equal(restored.get_pulse_counts(), after)
