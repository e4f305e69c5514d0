"""The unit cells of a device and its reference device (aihwkit's ``ReferenceUnitCell``) from
Python: construction with aihwkit's names and defaults, the JSON round trip, programming and a
short training step."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import rpusim
from rpusim import AnalogTile, RPUConfig
from rpusim.devices import (
    ConstantStep,
    ReferenceUnitCell,
    SoftBounds,
    VectorUnitCell,
    device_from_document,
)


def test_reference_unit_cell_has_aihwkits_defaults_and_names() -> None:
    cell = ReferenceUnitCell()
    assert isinstance(cell, VectorUnitCell)
    assert cell.gamma == cell.gamma_vec == [1.0, -1.0]
    assert cell.update_policy == "single_fixed" and cell.first_update_idx == 0
    assert cell.devices == [ConstantStep(), ConstantStep()]
    named = ReferenceUnitCell(unit_cell_devices=[SoftBounds(dw_min=0.01)], gamma_vec=[1.0, -0.5])
    assert named.devices == [SoftBounds(dw_min=0.01)] and named.gammas == [1.0, -0.5]
    document = named.to_document()
    assert document["type"] == "ReferenceUnitCell"
    assert device_from_document(document) == named
    with pytest.raises(rpusim.ConfigError, match="devices"):
        ReferenceUnitCell(devices=[ConstantStep()] * 3)


def test_reference_unit_cell_programs_device_zero_and_trains() -> None:
    config = RPUConfig(device=ReferenceUnitCell(devices=[SoftBounds(dw_min=0.01)]))
    config.forward = rpusim.IOParameters.perfect()
    tile = AnalogTile(3, 4, config, seed=1)
    w = np.linspace(-0.3, 0.3, 12, dtype=np.float32).reshape(3, 4)
    tile.set_weights(w)
    # The reference device stays at 0: the weight read is the weight programmed.
    assert np.array_equal(tile.get_weights(), w)
    x = np.ones((2, 4), np.float32)
    d = np.full((2, 3), -1.0, np.float32)
    tile.update(x, d, 0.1)
    after = tile.get_weights()
    assert np.all(after > w)  # -lr d x > 0: device 0 is potentiated
    again = pickle.loads(pickle.dumps(tile))
    assert np.array_equal(again.get_weights(), after)
    assert again.rpu_config == tile.rpu_config
