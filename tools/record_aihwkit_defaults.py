"""Records the defaults of the aihwkit classes rpusim mirrors in tests/data/aihwkit_defaults.json.

tests/test_aihwkit_defaults.py compares rpusim's defaults with this file, so that a drift from
aihwkit is caught without aihwkit installed. Run it with the benchmark environment, which has
aihwkit 1.1 (see bench/README.md), and commit the file it writes:

    bench/.venv/bin/python tools/record_aihwkit_defaults.py

What it writes:

- ``classes``: a default-constructed object of every mirrored class (``IOParameters``,
  ``UpdateParameters``, ``MappingParameter``, ``SingleRPUConfig``, the device models, the preset
  periphery ``PresetIOParameters``/``PresetUpdateParameters``);
- ``bindings``: attributes of the C++ parameter objects behind ``IOParameters`` and
  ``UpdateParameters`` that are not fields of the Python dataclasses (such as ``nm_decay``),
  with their C++ defaults (float32, written as the shortest decimal that reads back as that
  float32);
- ``device_presets`` and ``config_presets``: aihwkit's published presets that rpusim.presets
  names (for the configurations only the parts rpusim mirrors: device, forward, backward,
  update, mapping).

Every object is written as ``{"__type__": class name, "__bases__": [dataclass bases], field:
value, ...}``; enum members as their name in lower case (``NoiseManagementType.ABS_MAX`` ->
``"abs_max"``, rpusim's option strings), classes as their name, infinities as the strings
``"inf"``/``"-inf"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import platform
from pathlib import Path
from typing import Any

import aihwkit
import numpy as np
import torch
from aihwkit.simulator import presets
from aihwkit.simulator.configs import (
    IOParameters,
    MappingParameter,
    SingleRPUConfig,
    UpdateParameters,
)
from aihwkit.simulator.configs import devices as aihwkit_devices
from aihwkit.simulator.rpu_base import devices as bindings

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "aihwkit_defaults.json"

CLASSES = [
    IOParameters,
    UpdateParameters,
    MappingParameter,
    SingleRPUConfig,
    aihwkit_devices.PulsedDevice,
    aihwkit_devices.ConstantStepDevice,
    aihwkit_devices.LinearStepDevice,
    aihwkit_devices.SoftBoundsDevice,
    aihwkit_devices.ExpStepDevice,
    aihwkit_devices.PowStepDevice,
    aihwkit_devices.PiecewiseStepDevice,
    aihwkit_devices.IdealDevice,
    aihwkit_devices.VectorUnitCell,
    presets.PresetIOParameters,
    presets.PresetUpdateParameters,
]

DEVICE_PRESETS = [
    "IdealizedPresetDevice",
    "GokmenVlasovPresetDevice",
    "ReRamESPresetDevice",
    "ReRamSBPresetDevice",
    "CapacitorPresetDevice",
    "EcRamPresetDevice",
    "EcRamMOPresetDevice",
]

CONFIG_PRESETS = [
    "IdealizedPreset",
    "GokmenVlasovPreset",
    "ReRamESPreset",
    "ReRamSBPreset",
    "CapacitorPreset",
    "EcRamPreset",
    "EcRamMOPreset",
    *(
        f"{name}{n}Preset"
        for name in ("Idealized", "ReRamES", "ReRamSB", "Capacitor", "EcRam", "EcRamMO")
        for n in (2, 4)
    ),
]

CONFIG_PARTS = ("device", "forward", "backward", "update", "mapping")
"""The parts of an aihwkit RPU configuration that rpusim's RPUConfig mirrors."""

# The C++ parameter objects behind the Python dataclasses (their ``bindings_class``).
BINDINGS = {
    "IOParameters": (IOParameters, bindings.AnalogTileInputOutputParameter),
    "UpdateParameters": (UpdateParameters, bindings.AnalogTileUpdateParameter),
}


def encode(value: Any) -> Any:
    """``value`` as JSON data (see the module docstring)."""
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            raise ValueError("a NaN default cannot be compared")
        return value
    if isinstance(value, type):
        return value.__name__
    if dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
        assert "__type__" not in names and "__bases__" not in names
        bases = [c.__name__ for c in type(value).__mro__[1:] if dataclasses.is_dataclass(c)]
        return {
            "__type__": type(value).__name__,
            "__bases__": bases,
            **{name: encode(getattr(value, name)) for name in names},
        }
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise TypeError(f"cannot record a {type(value).__name__}: {value!r}")


def binding_only(python_class: type, binding_class: type) -> dict[str, Any]:
    """The attributes of the C++ object that the dataclass does not have, with their C++
    defaults (numbers and flags only)."""
    fields = {f.name for f in dataclasses.fields(python_class)}
    instance = binding_class()
    out: dict[str, Any] = {}
    for name in sorted(dir(instance)):
        if name.startswith("_") or name in fields:
            continue
        value = getattr(instance, name)
        if isinstance(value, int):  # bool included
            out[name] = value
        elif isinstance(value, float):
            # The C++ parameters are float32: the shortest decimal of that float32.
            out[name] = float(str(np.float32(value)))
    return out


def record() -> dict[str, Any]:
    document: dict[str, Any] = {
        "aihwkit_version": aihwkit.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "recorded_by": "tools/record_aihwkit_defaults.py",
        "classes": {cls.__name__: encode(cls()) for cls in CLASSES},
        "bindings": {name: binding_only(*classes) for name, classes in BINDINGS.items()},
        "device_presets": {name: encode(getattr(presets, name)()) for name in DEVICE_PRESETS},
        "config_presets": {},
    }
    for name in CONFIG_PRESETS:
        config = getattr(presets, name)()
        document["config_presets"][name] = {
            "__type__": type(config).__name__,
            **{part: encode(getattr(config, part)) for part in CONFIG_PARTS},
        }
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    document = record()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
    print(f"aihwkit {document['aihwkit_version']}: wrote {args.out}")


if __name__ == "__main__":
    main()
