"""rpusim.characterize: the response curve, the number of states and the symmetry point of
device models, against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import rpusim
from rpusim import RPUConfig
from rpusim.devices import ConstantStep, IdealDevice, SoftBounds, VectorUnitCell


def test_the_response_has_the_documented_shapes() -> None:
    r = rpusim.characterize(ConstantStep(), 50, n_devices=7, n_cycles=2, n_alternating=30)
    assert r.n_pulses == 50
    assert r.weights.shape == (2 * 50 * 2 + 1, 7)
    assert r.directions.shape == (200,)
    assert list(r.directions[:51]) == [1] * 50 + [-1]
    assert r.alternating.shape == (31, 7)
    assert np.all(r.alternating[0] == 0.0)
    # It starts at the lower bound, and the same seed measures the same devices.
    assert np.all(r.weights[0] < 0)
    again = rpusim.characterize(ConstantStep(), 50, n_devices=7, n_cycles=2, n_alternating=30)
    np.testing.assert_array_equal(again.weights, r.weights)
    other = rpusim.characterize(
        ConstantStep(), 50, n_devices=7, n_cycles=2, n_alternating=30, seed=1
    )
    assert not np.array_equal(other.weights, r.weights)


def test_constant_step_states_and_symmetry_point() -> None:
    device = ConstantStep(up_down_dtod=0.0)
    r = rpusim.characterize(device, n_devices=300)
    nominal = (device.w_max - device.w_min) / device.dw_min  # 1200
    assert r.n_states == pytest.approx(nominal, rel=0.08)
    assert r.dw_up == pytest.approx(device.dw_min, rel=0.06)
    assert r.dw_down == pytest.approx(device.dw_min, rel=0.06)
    assert r.w_max == pytest.approx(device.w_max, rel=0.08)
    assert r.w_min == pytest.approx(device.w_min, rel=0.08)
    assert abs(r.symmetry_point) < 0.01
    # Smaller down steps: alternating pulses drift up (towards the upper bound), and down for
    # smaller up steps.
    up = rpusim.characterize(ConstantStep(up_down=0.1, up_down_dtod=0.0), n_devices=100)
    assert up.dw_down == pytest.approx(0.9 * up.dw_up, rel=0.02)
    assert up.symmetry_point > 0.05
    down = rpusim.characterize(ConstantStep(up_down=-0.1, up_down_dtod=0.0), n_devices=100)
    assert down.symmetry_point < -0.05


def test_soft_bounds_states_and_symmetry_point() -> None:
    device = SoftBounds(up_down_dtod=0.0)
    r = rpusim.characterize(device, n_devices=300)
    nominal = (device.w_max - device.w_min) / device.dw_min
    assert r.n_states == pytest.approx(nominal, rel=0.1)
    assert r.dw_up == pytest.approx(device.dw_min, rel=0.06)
    assert abs(r.symmetry_point) < 0.01
    # With up_down = 0.2 (down steps 0.8 dw) and bounds +-0.6 the steps are equal where
    # (1 - w / 0.6) = 0.8 (1 + w / 0.6): w = 0.6 * 0.2 / 1.8.
    asym = rpusim.characterize(
        SoftBounds(up_down=0.2, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0), n_devices=100
    )
    assert asym.symmetry_point == pytest.approx(0.6 * 0.2 / 1.8, abs=0.01)


def test_two_devices_with_a_single_policy_double_the_states() -> None:
    one = rpusim.characterize(SoftBounds(), n_devices=100)
    cell = VectorUnitCell(devices=[SoftBounds(), SoftBounds()], update_policy="single_random")
    two = rpusim.characterize(cell, n_devices=100)
    assert two.n_states == pytest.approx(2 * one.n_states, rel=0.1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="IdealDevice takes no pulses"):
        rpusim.characterize(IdealDevice())
    with pytest.raises(ValueError, match="IdealDevice takes no pulses"):
        rpusim.characterize(RPUConfig.floating_point())
    with pytest.raises(TypeError, match="config must be an RPUConfig or a device"):
        rpusim.characterize("ConstantStep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_pulses must be >= 2"):
        rpusim.characterize(ConstantStep(), 1)
    with pytest.raises(TypeError, match="n_devices must be an int"):
        rpusim.characterize(ConstantStep(), 10, n_devices=2.0)  # type: ignore[arg-type]
