"""Device models in Python: the JSON round trip of every model, aihwkit's names, validation, and
what the engine makes of each model (bounds, programming, unit cells, saved state)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import rpusim
from helpers import bounds, uniform
from rpusim import AnalogTile, RPUConfig, _native
from rpusim.devices import (
    DEVICE_TYPES,
    ConstantStep,
    ConstantStepDevice,
    Device,
    ExpStep,
    ExpStepDevice,
    IdealDevice,
    LinearStep,
    LinearStepDevice,
    PiecewiseStep,
    PiecewiseStepDevice,
    PowStep,
    PowStepDevice,
    PulsedDevice,
    SoftBounds,
    SoftBoundsDevice,
    VectorUnitCell,
    VectorUnitCellUpdatePolicy,
    device_from_document,
)


def non_default_devices() -> list[Device]:
    """One of every model with parameters away from their defaults, and unit cells."""
    return [
        ConstantStep(dw_min=0.002, up_down=0.1, w_max=1.0, w_min=-0.8),
        LinearStep(gamma_up=0.3, gamma_down=0.6, mult_noise=False, write_noise_std=2.0),
        LinearStep(reverse_up=True, reverse_offset=0.05, allow_increasing=True),
        SoftBounds(dw_min=0.01, mult_noise=False, apply_write_noise_on_set=False),
        ExpStep(A_up=-1.2, A_down=-0.08, a=-0.5, b=-0.5, dw_min_std_add=0.01),
        PowStep(pow_gamma=2.5, pow_up_down=0.2, pow_up_down_dtod=0.05),
        PiecewiseStep(piecewise_up=[1.5, 1.0, 0.5], piecewise_down=[0.5, 1.0, 1.5]),
        IdealDevice(),
        VectorUnitCell(
            devices=[
                SoftBounds(),
                PowStep(),
                PiecewiseStep(piecewise_up=[2.0, 1.0], piecewise_down=[1.0, 2.0]),
            ],
            gamma=[0.2, 0.3, 0.5],
            update_policy="single_sequential",
            first_update_idx=2,
        ),
        VectorUnitCell(devices=[ExpStep(write_noise_std=3.0)], update_policy="single_random"),
    ]


ALL_DEVICES = [cls() for cls in DEVICE_TYPES.values()] + non_default_devices()


@pytest.mark.parametrize("device", ALL_DEVICES, ids=lambda d: type(d).__name__)
def test_every_device_round_trips_through_json_and_the_engine(device: Device) -> None:
    config = RPUConfig(device=device)
    text = config.to_json()
    document = json.loads(text)
    assert document["device"]["type"] == type(device).__name__
    assert RPUConfig.from_json(text) == config
    assert device_from_document(device.to_document()) == device
    tile = AnalogTile(3, 4, config, seed=1)
    assert json.loads(tile._tile.get_config_json()) == document
    assert tile.rpu_config == config
    # A restored tile is the same tile (devices, hidden weights, policy state).
    tile.set_weights(uniform(np.random.default_rng(0), -0.2, 0.2, (3, 4)))
    restored = AnalogTile.from_bytes(tile.to_bytes())
    assert restored.to_bytes() == tile.to_bytes()


def test_aihwkit_names_are_the_same_classes() -> None:
    assert ConstantStepDevice is ConstantStep
    assert LinearStepDevice is LinearStep
    assert SoftBoundsDevice is SoftBounds
    assert ExpStepDevice is ExpStep
    assert PowStepDevice is PowStep
    assert PiecewiseStepDevice is PiecewiseStep
    # An aihwkit configuration carries over as written.
    device = LinearStepDevice(gamma_up=0.1, gamma_down=0.2, mean_bound_reference=False)
    assert device.to_document()["type"] == "LinearStep"
    cell = VectorUnitCell(
        unit_cell_devices=[ConstantStepDevice(), ConstantStepDevice()],
        gamma_vec=[0.7, 0.3],
        update_policy=VectorUnitCellUpdatePolicy.SINGLE_FIXED,
        first_update_idx=1,
    )
    assert cell.devices == [ConstantStep(), ConstantStep()]
    assert cell.gamma == cell.gamma_vec == [0.7, 0.3]
    assert cell.update_policy == "single_fixed"
    assert cell.unit_cell_devices is cell.devices
    with pytest.raises(TypeError, match="give devices or its aihwkit alias, not both"):
        VectorUnitCell(devices=[ConstantStep()], unit_cell_devices=[ConstantStep()])


def test_defaults_are_aihwkits() -> None:
    ls = LinearStep()
    assert (ls.gamma_up, ls.gamma_up_dtod, ls.mean_bound_reference, ls.mult_noise) == (
        0.0,
        0.05,
        True,
        True,
    )
    es = ExpStep()
    assert (es.A_up, es.A_down, es.gamma_up, es.gamma_down, es.a, es.b) == (
        0.00081,
        0.36833,
        12.44625,
        12.78785,
        0.244,
        0.2425,
    )
    ps = PowStep()
    assert (ps.pow_gamma, ps.pow_gamma_dtod, ps.pow_up_down) == (1.0, 0.1, 0.0)
    assert PiecewiseStep().piecewise_up == [1.0]
    assert SoftBounds().write_noise_std == 0.0 and SoftBounds().apply_write_noise_on_set
    cell = VectorUnitCell()
    assert cell.gammas == [0.5, 0.5] and cell.update_policy == "all"


BAD_DEVICES: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
    (
        LinearStep,
        {"gamma_up_dtod": -0.1},
        ValueError,
        "LinearStep.gamma_up_dtod: must be finite and >= 0",
    ),
    (LinearStep, {"gamma_up": float("nan")}, ValueError, "LinearStep.gamma_up must be finite"),
    (LinearStep, {"reverse_up": True, "mult_noise": False}, ValueError, "LinearStep.mult_noise"),
    (LinearStep, {"mean_bound_reference": 1}, TypeError, "LinearStep.mean_bound_reference"),
    (
        SoftBounds,
        {"write_noise_std": -1.0},
        ValueError,
        "SoftBounds.write_noise_std: must be finite and >=",
    ),
    (SoftBounds, {"dw_min": 0.0}, ValueError, "SoftBounds.dw_min: must be finite and > 0"),
    (ExpStep, {"A_up": float("inf")}, ValueError, "ExpStep.A_up must be finite"),
    (ExpStep, {"b": "0.1"}, TypeError, "ExpStep.b must be a real number"),
    (
        PowStep,
        {"pow_gamma_dtod": -1.0},
        ValueError,
        "PowStep.pow_gamma_dtod: must be finite and >= 0",
    ),
    (PiecewiseStep, {"piecewise_up": []}, ValueError, "PiecewiseStep.piecewise_up: must have"),
    (
        PiecewiseStep,
        {"piecewise_up": [1.0, 2.0]},
        ValueError,
        "PiecewiseStep.piecewise_down: must have as many values as piecewise_up",
    ),
    (PiecewiseStep, {"piecewise_up": 1.0}, TypeError, "PiecewiseStep.piecewise_up must be a list"),
    (PiecewiseStep, {"piecewise_up": ["a"]}, TypeError, r"PiecewiseStep.piecewise_up\[0\]"),
    (VectorUnitCell, {"devices": []}, ValueError, "VectorUnitCell.devices: must hold 1 to 256"),
    (
        VectorUnitCell,
        {"devices": [ConstantStep(), IdealDevice()]},
        TypeError,
        r"VectorUnitCell.devices\[1\] must be a pulsed device model",
    ),
    (
        VectorUnitCell,
        {"devices": [VectorUnitCell()]},
        TypeError,
        r"VectorUnitCell.devices\[0\] must be a pulsed device model",
    ),
    (
        VectorUnitCell,
        {"devices": [PulsedDevice()]},
        TypeError,
        r"VectorUnitCell.devices\[0\] must be a pulsed device model",
    ),
    (VectorUnitCell, {"gamma": [1.0]}, ValueError, "VectorUnitCell.gamma: must be empty"),
    (VectorUnitCell, {"first_update_idx": 2}, ValueError, "VectorUnitCell.first_update_idx"),
    (VectorUnitCell, {"update_policy": "some"}, ValueError, "VectorUnitCell.update_policy"),
]


@pytest.mark.parametrize(("cls", "values", "error", "message"), BAD_DEVICES)
def test_bad_device_values_raise_naming_the_field(
    cls: Any, values: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace(".", r"\.")):
        cls(**values)


def test_bad_values_inside_a_unit_cell_are_caught() -> None:
    cell = VectorUnitCell()
    cell.devices[1].dw_min = -1.0
    with pytest.raises(ValueError, match=r"device\.devices\[1\]\.dw_min: must be finite and > 0"):
        RPUConfig(device=cell)
    # The engine validates again and names the nested field.
    document = json.loads(RPUConfig(device=VectorUnitCell()).to_json())
    document["device"]["devices"][1]["dw_min"] = -1.0
    with pytest.raises(ValueError, match=r"device\.devices\[1\]\.dw_min"):
        _native.Tile(2, 2, json.dumps(document), 0)
    document["device"]["devices"][1] = {"type": "ConstantStep", "gamma": 1}
    with pytest.raises(rpusim.ConfigError, match="unknown field `gamma`"):
        RPUConfig.from_json(json.dumps(document))
    document["device"]["devices"][1] = {"type": "IdealDevice"}
    with pytest.raises(
        rpusim.ConfigError, match=r"device\.devices\[1\]: must be a single pulsed device model"
    ):
        RPUConfig.from_json(json.dumps(document))


@pytest.mark.parametrize("cls", [c for c in DEVICE_TYPES.values() if issubclass(c, PulsedDevice)])
def test_programmed_weights_stay_within_each_devices_bounds(cls: type[PulsedDevice]) -> None:
    rng = np.random.default_rng(3)
    tile = AnalogTile(20, 30, RPUConfig(device=cls()), seed=4)
    b_min, b_max = bounds(tile)
    assert np.all(b_min <= 0) and np.all(b_max >= 0) and np.any(b_max > b_min)
    w = uniform(rng, -2, 2, (20, 30))
    tile.set_weights(w)
    np.testing.assert_array_equal(tile.get_weights(), np.clip(w, b_min, b_max))
    for _ in range(10):
        x = uniform(rng, -1, 1, (8, 30))
        d = uniform(rng, -1, 1, (8, 20))
        tile.update(x, d, 1.0)
        got = tile.get_weights()
        assert np.all(got >= b_min) and np.all(got <= b_max)


def test_a_unit_cell_programs_all_its_devices_and_reads_their_mean() -> None:
    quiet = {"w_max_dtod": 0.0, "w_min_dtod": 0.0}
    cell = VectorUnitCell(devices=[ConstantStep(**quiet), SoftBounds(**quiet), PowStep(**quiet)])
    tile = AnalogTile(10, 12, RPUConfig(device=cell), seed=5)
    w = uniform(np.random.default_rng(1), -0.5, 0.5, (10, 12))
    tile.set_weights(w)
    np.testing.assert_allclose(tile.get_weights(), w, atol=1e-7)
    # With single_fixed only the fixed device is programmed: the others stay at 0.
    fixed = VectorUnitCell(
        devices=[ConstantStep(**quiet), ConstantStep(**quiet)],
        update_policy="single_fixed",
        first_update_idx=1,
        gamma=[1.0, 1.0],
    )
    tile = AnalogTile(10, 12, RPUConfig(device=fixed), seed=5)
    tile.set_weights(w)
    np.testing.assert_array_equal(tile.get_weights(), w)


def test_a_unit_cell_with_a_single_policy_moves_one_device_per_update() -> None:
    # Two devices with very different steps: each update moves the weight by the step of the
    # device the policy picked.
    exact = {"dw_min_dtod": 0.0, "dw_min_std": 0.0, "up_down_dtod": 0.0}
    cell = VectorUnitCell(
        devices=[ConstantStep(dw_min=0.001, **exact), ConstantStep(dw_min=0.004, **exact)],
        gamma=[1.0, 1.0],
        update_policy="single_sequential",
    )
    config = RPUConfig(
        device=cell, update=rpusim.UpdateParameters(pulse_type="deterministic_implicit")
    )
    tile = AnalogTile(1, 1, config, seed=0)
    x = np.ones((1, 1), np.float32)
    d = -np.ones((1, 1), np.float32)
    changes = []
    for _ in range(4):
        before = float(tile.get_weights()[0, 0])
        tile.update(x, d, 0.0025)  # k = lr / granularity = 1: one pulse
        changes.append(round(float(tile.get_weights()[0, 0]) - before, 6))
    # The first update after programming pulses device first_update_idx + 1 (as aihwkit).
    assert changes == [0.004, 0.001, 0.004, 0.001]


@pytest.mark.parametrize(
    ("device", "granularity"),
    [
        (ConstantStep(), 0.001),
        (ExpStep(), 0.001 * (1 - 0.36833 * np.exp(-12.78785 * 0.2425))),
        # aihwkit's ReRAM fit: the down step at w = 0, 1.475 dw_min (the up step is 1.097).
        (rpusim.presets.reram_es_device(), 0.00135 * (1 - 0.259359) * (1 + 0.081404 * np.exp(2.5))),
        (PowStep(), 0.0005),
        (PowStep(pow_gamma=2.0, pow_up_down=0.3), 0.00025),
    ],
)
def test_update_management_plans_with_aihwkits_weight_granularity(
    device: PulsedDevice, granularity: float
) -> None:
    # aihwkit's calcWeightGranularity: dw_min, the exponential step's down step at w = 0, the
    # power step's dw_min 0.5 ** pow_gamma.
    assert device.granularity == pytest.approx(granularity, rel=1e-12)
    # The engine plans with the same value: with x = d = 1 and lr = 3 granularities, the
    # deterministic pulses are exactly 3 per device (lr = 2 granularities: 2, ...).
    config = RPUConfig(
        device=device, update=rpusim.UpdateParameters(pulse_type="deterministic_implicit")
    )
    tile = AnalogTile(4, 5, config, seed=1)
    x = np.ones((1, 5), np.float32)
    d = -np.ones((1, 4), np.float32)
    for n in (1, 2, 3):
        before = tile.pulses
        tile.update(x, d, np.float32(n * granularity))
        assert tile.pulses - before == n * 20, f"{n} granularities"
