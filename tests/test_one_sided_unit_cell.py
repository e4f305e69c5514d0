"""The one-sided unit cell (aihwkit's ``OneSidedUnitCell``) from Python: aihwkit's names and
defaults, the JSON round trip, bad input refused by name, the split of programmed weights onto
the two devices, and an MLP that learns scikit-learn's digits on one-sided soft-bounds pairs."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import rpusim
from rpusim import AnalogTile, IOParameters, RPUConfig, UpdateParameters
from rpusim.devices import ConstantStep, OneSidedUnitCell, SoftBounds, device_from_document

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from digits_mlp import digits_accuracy

pytestmark = pytest.mark.usefixtures("single_threaded")


def test_defaults_and_names_are_aihwkits() -> None:
    cell = OneSidedUnitCell()
    assert cell.unit_cell_devices == [ConstantStep()]
    assert (cell.refresh_every, cell.units_in_mbatch) == (0, True)
    assert (cell.refresh_upper_thres, cell.refresh_lower_thres) == (0.75, 0.25)
    assert cell.refresh_forward == IOParameters()
    assert cell.refresh_update == UpdateParameters()
    assert cell.copy_inverted is False
    assert cell.gammas == [-1.0, 1.0]
    assert "OneSidedUnitCell" in rpusim.devices.DEVICE_TYPES


def test_json_round_trip_keeps_every_part() -> None:
    device = OneSidedUnitCell(
        unit_cell_devices=[SoftBounds(dw_min=0.01)],
        refresh_every=3,
        units_in_mbatch=False,
        refresh_upper_thres=0.6,
        refresh_forward=IOParameters(out_noise=0.01),
        refresh_update=UpdateParameters(desired_bl=7),
    )
    document = device.to_document()
    assert document["type"] == "OneSidedUnitCell"
    assert document["refresh_every"] == 3
    assert document["refresh_forward"]["out_noise"] == 0.01
    assert device_from_document(json.loads(json.dumps(document))) == device
    config = RPUConfig(device=device)
    assert RPUConfig.from_json(config.to_json()) == config


def test_bad_input_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"OneSidedUnitCell\.refresh_forward must be IOParameters"):
        OneSidedUnitCell(refresh_forward=UpdateParameters())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unit_cell_devices\[0\] must be a pulsed device"):
        OneSidedUnitCell(unit_cell_devices=[OneSidedUnitCell()])  # type: ignore[list-item]
    with pytest.raises(rpusim.ConfigError, match=r"OneSidedUnitCell\.refresh_every"):
        OneSidedUnitCell(refresh_every=-1)
    with pytest.raises(rpusim.ConfigError, match=r"OneSidedUnitCell\.unit_cell_devices\[1\]"):
        OneSidedUnitCell(unit_cell_devices=[ConstantStep(), SoftBounds()])
    with pytest.raises(rpusim.ConfigError, match=r"OneSidedUnitCell\.unit_cell_devices"):
        OneSidedUnitCell(unit_cell_devices=[])
    with pytest.raises(rpusim.ConfigError, match=r"OneSidedUnitCell\.copy_inverted"):
        OneSidedUnitCell(copy_inverted=True)
    with pytest.raises(rpusim.ConfigError, match=r"unit_cell_devices\[0\]\.write_noise_std"):
        OneSidedUnitCell(unit_cell_devices=[SoftBounds(write_noise_std=1.0)], refresh_every=1)
    update = UpdateParameters()
    update.desired_bl = 0  # an unbound part is checked when it is used
    with pytest.raises(rpusim.ConfigError, match=r"OneSidedUnitCell\.refresh_update\.desired_bl"):
        OneSidedUnitCell(refresh_update=update)


def test_programmed_weights_split_onto_the_two_devices_and_the_state_reloads() -> None:
    config = RPUConfig(device=OneSidedUnitCell(unit_cell_devices=[SoftBounds(dw_min=0.01)]))
    config.forward = IOParameters.perfect()
    tile = AnalogTile(3, 4, config, seed=1)
    w = np.linspace(-0.3, 0.3, 12, dtype=np.float32).reshape(3, 4)
    tile.set_weights(w)
    assert np.allclose(tile.get_weights(), w, atol=1e-7)  # w_1 - w_0 = max(w, 0) - max(-w, 0)
    # Errors of one sign: every cross-point's weight rises, by pulses on device 1 alone.
    for _ in range(4):
        tile.update(np.ones((2, 4), np.float32), np.full((2, 3), -1.0, np.float32), 0.1)
    after = tile.get_weights()
    assert np.all(after >= w) and np.any(after > w)
    again = pickle.loads(pickle.dumps(tile))
    assert np.array_equal(again.get_weights(), after)
    assert again.rpu_config == tile.rpu_config
    with pytest.raises(rpusim.ConfigError, match="device"):
        tile.rpu_config.device.refresh_every = 2  # fixed once drawn


# Observed: 0.83 with a refresh after every batch; 0.68 without refreshes, where the pairs
# of soft-bounds devices only grow, saturate and their differences take ever smaller steps.
def test_mlp_learns_digits_on_one_sided_pairs() -> None:
    def device(refresh_every: int) -> OneSidedUnitCell:
        return OneSidedUnitCell(
            unit_cell_devices=[SoftBounds(dw_min=0.01)], refresh_every=refresh_every
        )

    assert digits_accuracy(device(1)) > 0.78
    assert digits_accuracy(device(0)) < 0.75
