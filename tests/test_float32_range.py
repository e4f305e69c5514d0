"""The engine never writes a state its own loader refuses (issue 12, item 2): configuration
values beyond float32 are refused naming the field, and every update path keeps the weights
finite (an exact float step beyond float32 saturates at +-3.4e38, as does write noise), so
that pickling and reloading work after any call."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import rpusim
from rpusim import _native, devices

HUGE = np.float32(1e20)


def compound_of(name: str, parts: list[devices.PulsedDevice]) -> devices.Device | None:
    """The compound model ``name`` of the devices ``parts``; None for a single model."""
    device_type = getattr(devices, name)
    if issubclass(device_type, devices.VectorUnitCell):
        return device_type(devices=parts)  # type: ignore[no-any-return]
    if issubclass(device_type, devices.TransferCompound):
        return device_type(unit_cell_devices=parts)  # type: ignore[no-any-return]
    if issubclass(device_type, devices.OneSidedUnitCell):
        # Both devices of a one-sided pair are drawn from its one device model.
        return device_type(unit_cell_devices=parts[:1])  # type: ignore[no-any-return]
    if issubclass(device_type, devices.MixedPrecisionCompound):
        return device_type(device=parts[-1])  # type: ignore[no-any-return]
    return None


def device_of(name: str) -> devices.Device:
    compound = compound_of(name, [devices.ConstantStep(), devices.LinearStep()])
    return compound if compound is not None else getattr(devices, name)()


def reloads(tile: rpusim.AnalogTile) -> None:
    w = tile.get_weights()
    assert np.isfinite(w).all(), w
    again = pickle.loads(pickle.dumps(tile))
    assert np.array_equal(again.get_weights(), w)
    assert rpusim.AnalogTile.from_bytes(tile.to_bytes()).to_bytes() == tile.to_bytes()


@pytest.mark.parametrize("name", _native.DEVICE_TYPES)
@pytest.mark.parametrize("pulse_type", ["stochastic_compressed", "none"])
def test_huge_updates_keep_every_state_loadable(name: str, pulse_type: str) -> None:
    config = rpusim.RPUConfig(device=device_of(name))
    config.update.pulse_type = rpusim.PulseType(pulse_type)
    config.forward = rpusim.IOParameters.perfect()
    tile = rpusim.AnalogTile(2, 3, config, seed=4)
    x = np.full((2, 3), HUGE, np.float32)
    d = np.full((2, 2), HUGE, np.float32)
    for sign in (1, -1, 1):
        tile.update(sign * x, d, 1.0)
    tile.update(np.zeros_like(x), d, 1.0)  # (lr d) beyond float32 times 0: no change
    reloads(tile)
    if name == "IdealDevice":
        # The exact float step saturates at the float32 maximum instead of reaching -inf.
        assert np.all(tile.get_weights() == -np.finfo(np.float32).max)


@pytest.mark.parametrize(
    "name", [n for n in _native.DEVICE_TYPES if n not in ("IdealDevice", "ConstantStep")]
)
def test_huge_write_noise_keeps_the_weights_finite(name: str) -> None:
    noisy = devices.LinearStep(write_noise_std=3e38, dw_min=1.0)
    compound = compound_of(name, [noisy, noisy])
    device = compound or getattr(devices, name)(write_noise_std=3e38, dw_min=1.0)
    tile = rpusim.AnalogTile(8, 8, rpusim.RPUConfig(device=device), seed=2)
    tile.set_weights(np.full((8, 8), 0.3, np.float32))
    tile.update(np.ones((4, 8), np.float32), np.ones((4, 8), np.float32), 0.5)
    reloads(tile)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: devices.ConstantStep(w_max=1e300), "ConstantStep.w_max"),
        (lambda: devices.LinearStep(write_noise_std=1e39), "LinearStep.write_noise_std"),
        (lambda: devices.ExpStep(dw_min=1e300), "ExpStep.dw_min"),
        (lambda: rpusim.IOParameters(out_noise=1e200), "IOParameters.out_noise"),
        (
            lambda: devices.VectorUnitCell(devices=[devices.ConstantStep()], gamma=[1e39]),
            "VectorUnitCell.gamma.0",
        ),
    ],
)
def test_values_beyond_float32_are_refused_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(rpusim.ConfigError, match=f"{field}: must be within the float32 range"):
        make()  # type: ignore[operator]


def test_values_that_draw_an_infinity_are_refused() -> None:
    # Within float32, but a bound at its maximum times a spread of 30 % is beyond it.
    device = devices.ConstantStep(w_max=3.4e38, w_max_dtod=0.3)
    with pytest.raises(rpusim.RPUSimError, match="non-finite value inf into b_max"):
        rpusim.AnalogTile(16, 16, rpusim.RPUConfig(device=device))
