"""Configuration dataclasses: defaults, validation, enums, and the engine JSON form."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np
import pytest
import rpusim
from rpusim import (
    BoundManagementType,
    IOParameters,
    NoiseManagementType,
    PulseType,
    RPUConfig,
    UpdateParameters,
    _native,
)
from rpusim import compensation as comp
from rpusim.devices import (
    DEVICE_TYPES,
    ConstantStep,
    Device,
    IdealDevice,
    PulsedDevice,
    device_from_document,
)


def test_python_defaults_equal_engine_defaults() -> None:
    engine = json.loads(_native.default_config_json())
    assert json.loads(RPUConfig().to_json()) == engine
    # Field order follows the engine's structs too (same names, same order).
    assert list(json.loads(RPUConfig().to_json())["forward"]) == list(engine["forward"])
    assert RPUConfig.from_json(_native.default_config_json()) == RPUConfig()


@pytest.mark.parametrize("name", list(DEVICE_TYPES))
def test_python_device_defaults_equal_engine_defaults(name: str) -> None:
    engine = json.loads(_native.default_device_json(name))
    python = DEVICE_TYPES[name]().to_document()
    assert python == engine
    # Same names in the same order (nested unit-cell devices included).
    assert json.dumps(python) == json.dumps(engine)
    assert device_from_document(engine) == DEVICE_TYPES[name]()


def test_sections_are_the_engines() -> None:
    assert rpusim.config.SECTIONS == ("device", "forward", "backward", "update", "mapping")
    assert set(json.loads(_native.default_config_json())) == set(rpusim.config.SECTIONS)
    # The run-time switches use the same list, without the device (fixed once drawn).
    assert tuple(s for s in rpusim.config.SECTIONS if s != "device") == comp._SECTIONS


def declared_device_models() -> dict[str, type[Device]]:
    """The device model dataclasses rpusim.devices declares, by class name: its Device classes
    but the bases that are no model (a new base must be added here, so that a dataclass
    without an engine model cannot hide as one)."""
    module = rpusim.devices
    bases = (
        module.Device,
        module.PulsedDevice,
        module.PulsedDeviceWithWriteNoise,
        module._CompoundWithParts,
    )
    return {
        cls.__name__: cls
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, Device)
        and cls.__module__ == module.__name__
        and cls not in bases
    }


def test_every_engine_device_model_has_a_dataclass_and_vice_versa() -> None:
    engine = _native.DEVICE_TYPES
    assert isinstance(engine, tuple) and len(set(engine)) == len(engine)
    # The names, and their order, come from the engine.
    assert list(DEVICE_TYPES) == list(engine)
    declared = declared_device_models()
    assert set(declared) == set(engine)
    for name, cls in DEVICE_TYPES.items():
        assert cls is declared[name]
        _native.default_device_json(name)
    with pytest.raises(ValueError, match='unknown device model "Memristor"') as error:
        _native.default_device_json("Memristor")
    assert str(error.value).split("expected one of ")[1].split(", ") == list(engine)


def test_an_engine_device_model_without_a_dataclass_fails_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rpusim.devices, "ENGINE_DEVICE_TYPES", (*_native.DEVICE_TYPES, "Memristor"))
    with pytest.raises(ImportError, match="no dataclass for the engine's Memristor"):
        rpusim.devices._engine_device_types()


def test_contract_defaults() -> None:
    io = IOParameters()
    assert io.inp_res == 1 / 126 and io.out_res == 1 / 510
    assert (io.inp_bound, io.out_bound, io.out_noise) == (1.0, 12.0, 0.06)
    assert (io.noise_management, io.bound_management) == ("abs_max", "iterative")
    c = RPUConfig()
    assert c.backward.bound_management == "none"
    assert c.forward.bound_management == "iterative"
    assert isinstance(c.device, ConstantStep)
    assert (c.device.dw_min, c.device.w_max, c.device.w_min) == (0.001, 0.6, -0.6)
    assert c.update == UpdateParameters(31, True, True, "stochastic_compressed")
    # Every field has a default.
    for cls in (IOParameters, UpdateParameters, ConstantStep, RPUConfig):
        for f in dataclasses.fields(cls):
            assert (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            ), f"{cls.__name__}.{f.name}"


def test_parts_are_independent_objects() -> None:
    a, b = RPUConfig(), RPUConfig()
    a.forward.out_noise = 0.5
    assert b.forward.out_noise == 0.06


def test_perfect() -> None:
    io = IOParameters.perfect()
    assert io.is_perfect is True
    assert dataclasses.replace(io, is_perfect=False) == IOParameters()


@pytest.mark.parametrize(
    ("cls", "name", "enum"),
    [
        (IOParameters, "noise_management", NoiseManagementType),
        (IOParameters, "bound_management", BoundManagementType),
        (UpdateParameters, "pulse_type", PulseType),
    ],
)
def test_options_accept_enum_and_string_and_store_the_string(
    cls: Any, name: str, enum: Any
) -> None:
    for member in enum:
        from_enum = cls(**{name: member})
        from_string = cls(**{name: member.value})
        assert getattr(from_enum, name) == member.value
        assert type(getattr(from_enum, name)) is str
        assert from_enum == from_string
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name} must be one of .*'NOPE'"):
        cls(**{name: "NOPE"})
    upper = next(iter(enum)).value.upper()
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name}"):
        cls(**{name: upper})
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{name}"):
        cls(**{name: 3})


def test_enum_values_are_the_engine_names() -> None:
    assert [m.value for m in NoiseManagementType] == [
        "none",
        "abs_max",
        "max",
        "constant",
        "average_abs_max",
    ]
    assert [m.value for m in BoundManagementType] == ["none", "iterative"]
    assert [m.value for m in PulseType] == [
        "none",
        "stochastic_compressed",
        "deterministic_implicit",
    ]
    # Every option is accepted by the engine.
    for nm in NoiseManagementType:
        for bm in BoundManagementType:
            for pt in PulseType:
                config = RPUConfig(
                    forward=IOParameters(noise_management=nm, bound_management=bm),
                    update=UpdateParameters(pulse_type=pt),
                )
                rpusim.AnalogTile(2, 2, config)


# The engine checks the values ("IOParameters.out_noise: must ..."); Python converts the types
# ("... must be a real number"), and refuses what a JSON number cannot hold (non-finite).
BAD_VALUES = [
    # (class, field, value, exception, message part)
    (IOParameters, "out_noise", -1, ValueError, "IOParameters.out_noise: must be >= 0, got -1"),
    (IOParameters, "inp_noise", -0.1, ValueError, "IOParameters.inp_noise: must be >= 0"),
    (IOParameters, "w_noise", float("nan"), ValueError, "IOParameters.w_noise must be finite"),
    (IOParameters, "out_bound", float("inf"), ValueError, "IOParameters.out_bound must be finite"),
    (
        IOParameters,
        "out_bound",
        0.0,
        ValueError,
        "IOParameters.out_bound: must be finite and > 0 when",
    ),
    (
        IOParameters,
        "inp_bound",
        -1.0,
        ValueError,
        "IOParameters.inp_bound: must be finite and > 0 when",
    ),
    (IOParameters, "nm_decay", 1.5, ValueError, "IOParameters.nm_decay: must be in [0, 1]"),
    (IOParameters, "nm_thres", -1.0, ValueError, "IOParameters.nm_thres: must be >= 0"),
    (IOParameters, "max_bm_factor", 0.5, ValueError, "IOParameters.max_bm_factor: must be >= 1"),
    (IOParameters, "max_bm_res", -1.0, ValueError, "IOParameters.max_bm_res: must be >= 0"),
    (IOParameters, "out_scale", "1", TypeError, "IOParameters.out_scale must be a real number"),
    (IOParameters, "inp_res", True, TypeError, "IOParameters.inp_res must be a real number"),
    (IOParameters, "is_perfect", 1, TypeError, "IOParameters.is_perfect must be a bool"),
    (IOParameters, "out_sto_round", "yes", TypeError, "IOParameters.out_sto_round must be a bool"),
    (UpdateParameters, "desired_bl", 0, ValueError, "UpdateParameters.desired_bl: must be in"),
    (UpdateParameters, "desired_bl", 257, ValueError, "UpdateParameters.desired_bl: must be in"),
    (UpdateParameters, "desired_bl", -1, ValueError, "UpdateParameters.desired_bl must be in"),
    (UpdateParameters, "desired_bl", 31.0, TypeError, "UpdateParameters.desired_bl must be an int"),
    (UpdateParameters, "update_management", None, TypeError, "update_management must be a bool"),
    (ConstantStep, "dw_min", 0.0, ValueError, "ConstantStep.dw_min: must be finite and > 0, got 0"),
    (
        ConstantStep,
        "dw_min_std",
        -0.1,
        ValueError,
        "ConstantStep.dw_min_std: must be finite and >= 0",
    ),
    (
        ConstantStep,
        "dw_min_dtod",
        -0.1,
        ValueError,
        "ConstantStep.dw_min_dtod: must be finite and >= 0",
    ),
    (
        ConstantStep,
        "up_down_dtod",
        -0.1,
        ValueError,
        "ConstantStep.up_down_dtod: must be finite and >= 0",
    ),
    (ConstantStep, "w_max", -0.1, ValueError, "ConstantStep.w_min/w_max: [w_min, w_max] must"),
    (ConstantStep, "w_min", 0.1, ValueError, "ConstantStep.w_min/w_max: [w_min, w_max] must"),
    (
        ConstantStep,
        "w_max_dtod",
        -1.0,
        ValueError,
        "ConstantStep.w_max_dtod: must be finite and >= 0",
    ),
    (ConstantStep, "up_down", float("inf"), ValueError, "ConstantStep.up_down must be finite"),
]


@pytest.mark.parametrize(("cls", "name", "value", "error", "message"), BAD_VALUES)
def test_bad_values_raise_naming_the_field(
    cls: Any, name: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        cls(**{name: value})


@pytest.mark.parametrize(("cls", "name", "value", "error", "message"), BAD_VALUES)
def test_bad_values_set_later_are_caught_on_conversion(
    cls: Any, name: str, value: Any, error: type[Exception], message: str
) -> None:
    config = RPUConfig()
    section = {IOParameters: "forward", UpdateParameters: "update"}.get(cls, "device")
    setattr(getattr(config, section), name, value)
    # Inside a configuration the engine names the field by its section.
    if ": " in message:
        message = message.replace(f"{cls.__name__}.", f"{section}.")
    with pytest.raises(error, match=re.escape(message)):
        config.to_json()
    with pytest.raises(error):
        rpusim.AnalogTile(2, 3, config)


def test_engine_rejects_what_python_rejects() -> None:
    # The engine validates again: a hand-made JSON with a bad value fails there, naming it.
    document = json.loads(RPUConfig().to_json())
    document["backward"]["out_noise"] = -1.0
    with pytest.raises(ValueError, match=r"backward\.out_noise"):
        _native.Tile(2, 2, json.dumps(document), 0)
    document = json.loads(RPUConfig().to_json())
    document["forward"]["out_noize"] = 0.1
    with pytest.raises(ValueError, match="out_noize"):
        _native.Tile(2, 2, json.dumps(document), 0)


def test_numbers_are_normalised() -> None:
    import numpy as np

    io = IOParameters(out_noise=0, inp_bound=np.float32(2.0), inp_sto_round=np.bool_(True))
    assert type(io.out_noise) is float and io.out_noise == 0.0
    assert type(io.inp_bound) is float and io.inp_bound == 2.0
    assert io.inp_sto_round is True
    up = UpdateParameters(desired_bl=np.int64(64))
    assert type(up.desired_bl) is int


def test_rpu_config_checks_part_types() -> None:
    with pytest.raises(TypeError, match=r"RPUConfig\.forward must be IOParameters"):
        RPUConfig(forward=UpdateParameters())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"RPUConfig\.update must be UpdateParameters"):
        RPUConfig(update=IOParameters())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"RPUConfig\.device must be a device model"):
        RPUConfig(device=PulsedDevice())
    with pytest.raises(TypeError, match=r"RPUConfig\.device must be a device model"):
        RPUConfig(device=IOParameters())  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    config = RPUConfig(
        device=ConstantStep(dw_min=0.0002, up_down=0.01, w_max=1.0, w_min=-1.0),
        forward=IOParameters(out_noise=0.02, noise_management="max", nm_thres=2.0),
        backward=IOParameters.perfect(),
        update=UpdateParameters(desired_bl=100, pulse_type=PulseType.DETERMINISTIC_IMPLICIT),
    )
    text = config.to_json()
    document = json.loads(text)
    assert document["device"]["type"] == "ConstantStep"
    assert document["update"]["pulse_type"] == "deterministic_implicit"
    assert RPUConfig.from_json(text) == config
    # Through the engine and back: what the engine stores is what was sent.
    tile = rpusim.AnalogTile(3, 4, config)
    assert json.loads(tile._tile.get_config_json()) == document
    assert tile.rpu_config == config


def test_from_json_defaults_missing_fields() -> None:
    assert RPUConfig.from_json("{}") == RPUConfig()
    partial = RPUConfig.from_json(
        '{"forward": {"out_noise": 0.1}, "device": {"type": "ConstantStep"}}'
    )
    assert partial == RPUConfig(forward=IOParameters(out_noise=0.1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "configuration: expected ident at line 1"),
        ("[]", "configuration: expected a JSON object, got []"),
        ('{"forwards": {}}', "configuration: unknown field `forwards`"),
        ('{"forward": {"out_noize": 1}}', "configuration: unknown field `out_noize`"),
        ('{"forward": 3}', "configuration: invalid type: integer `3`"),
        ('{"device": {"type": "Memristor"}}', "configuration: unknown variant `Memristor`"),
        ('{"device": {"dw_min": 0.1}}', "configuration: missing field `type`"),
        ('{"device": {"type": "ConstantStep", "gamma": 1}}', "unknown field `gamma`"),
        ('{"forward": {"out_noise": -1}}', "forward.out_noise: must be >= 0"),
    ],
)
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(rpusim.ConfigError, match=re.escape(message)):
        RPUConfig.from_json(text)


def test_device_registry_uses_class_names() -> None:
    assert DEVICE_TYPES["ConstantStep"] is ConstantStep
    assert DEVICE_TYPES["IdealDevice"] is IdealDevice
    for name, cls in DEVICE_TYPES.items():
        assert cls.__name__ == name
        assert issubclass(cls, Device)


def test_floating_point_config_computes_in_float32() -> None:
    config = RPUConfig.floating_point()
    assert isinstance(config.device, IdealDevice)
    assert config.forward.is_perfect and config.backward.is_perfect
    assert RPUConfig.from_json(config.to_json()) == config
    tile = rpusim.AnalogTile(3, 4, config, seed=1)
    w = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.0  # beyond any device bound
    tile.set_weights(w)
    np.testing.assert_array_equal(tile.get_weights(), w)
    x = np.array([[1.0, -2.0, 0.5, 0.25]], dtype=np.float32)
    d = np.array([[0.5, -1.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(tile.forward(x), x @ w.T, rtol=1e-6)
    np.testing.assert_allclose(tile.backward(d), d @ w, rtol=1e-6)
    tile.update(x, d, 0.1)
    np.testing.assert_allclose(tile.get_weights(), w - 0.1 * d.T @ x, rtol=1e-6)
