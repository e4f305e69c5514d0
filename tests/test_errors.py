"""The exception hierarchy: every refusal is an rpusim.RPUSimError (a ValueError), corrupt
states are StateErrors, bad configurations ConfigErrors, and each message names the parameter."""

from __future__ import annotations

import numpy as np
import pytest
import rpusim
from rpusim import _native


def test_hierarchy_keeps_value_error_callers_working() -> None:
    assert issubclass(rpusim.RPUSimError, ValueError)
    assert issubclass(rpusim.ConfigError, rpusim.RPUSimError)
    assert issubclass(rpusim.StateError, rpusim.RPUSimError)
    assert not issubclass(rpusim.ConfigError, rpusim.StateError)
    assert rpusim.RPUSimError is _native.RPUSimError


def test_corrupt_and_truncated_states_are_state_errors() -> None:
    tile = rpusim.AnalogTile(3, 4, seed=1)
    state = tile.to_bytes()
    for bad in (b"", b"not a state", state[: len(state) // 2]):
        with pytest.raises(rpusim.StateError, match="state"):
            rpusim.AnalogTile.from_bytes(bad)
    flipped = bytearray(state)
    flipped[len(state) // 2] ^= 0x10
    with pytest.raises(rpusim.StateError):
        rpusim.AnalogTile.from_bytes(bytes(flipped))
    with pytest.raises(rpusim.StateError, match="missing key 'state'"):
        tile.load_state_dict({"format_version": 2, "out_size": 3, "in_size": 4})
    other = rpusim.AnalogTile(4, 3, seed=1)
    with pytest.raises(rpusim.StateError, match="cannot be loaded"):
        tile.load_state_dict(other.state_dict())
    # the refused loads left the tile as it was
    assert tile.to_bytes() == state


def test_bad_configurations_are_config_errors() -> None:
    with pytest.raises(rpusim.ConfigError, match=r"IOParameters\.out_noise"):
        rpusim.IOParameters(out_noise=-1.0)
    with pytest.raises(rpusim.ConfigError, match="desired_bl"):
        rpusim.UpdateParameters(desired_bl=0)
    with pytest.raises(rpusim.ConfigError, match="dw_min"):
        rpusim.devices.ConstantStep(dw_min=float("nan"))
    with pytest.raises(TypeError, match="out_noise"):
        rpusim.IOParameters(out_noise="large")  # type: ignore[arg-type]
    with pytest.raises(rpusim.ConfigError, match="configuration"):
        _native.Tile(3, 4, "{not json", 1)
    with pytest.raises(rpusim.ConfigError, match="unknown device model"):
        _native.default_device_json("no_such_device")


def test_shapes_and_values_are_rpusim_errors_naming_the_parameter() -> None:
    tile = rpusim.AnalogTile(3, 4, seed=1)
    x = np.ones((2, 4), dtype=np.float32)
    cases = [
        ("x", lambda: tile.forward(np.ones((2, 5), dtype=np.float32))),
        ("x", lambda: tile.forward(np.array([[np.nan, 0, 0, 0]], dtype=np.float32))),
        ("d", lambda: tile.update(x, np.ones((3, 3), dtype=np.float32), lr=0.1)),
        ("lr", lambda: tile.update(x, np.ones((2, 3), dtype=np.float32), lr=-1.0)),
        ("weights", lambda: tile.set_weights(np.ones((4, 3), dtype=np.float32))),
        # the native layer's own checks
        ("d", lambda: tile._tile.update(x, np.ones((3, 3), dtype=np.float32), 0.1)),
        ("x", lambda: tile._tile.forward(np.ones((4, 2), dtype=np.float32).T, False)),
        ("weights", lambda: tile._tile.set_weights(np.ones((4, 3), dtype=np.float32), True)),
    ]
    for name, call in cases:
        with pytest.raises(rpusim.RPUSimError, match=name) as info:
            call()
        assert not isinstance(info.value, (rpusim.ConfigError, rpusim.StateError))
