"""rpusim's defaults against aihwkit 1.1's, recorded once in data/aihwkit_defaults.json by
tools/record_aihwkit_defaults.py, so that a drift is caught without aihwkit installed.

Every field rpusim shares with aihwkit (the same name in the class that mirrors aihwkit's) has
aihwkit's default, or the difference is listed in INTENDED with its reason. docs/aihwkit.md has a
row for every shared field of the mirrored classes and for every difference anywhere (presets
included), with both defaults written as :func:`fmt` writes them, and names every field that one
side has and the other has not. The engine's defaults equal the Python ones
(test_config.py::test_python_defaults_equal_engine_defaults and its device twin), so this checks
the engine's too.

``python tests/test_aihwkit_defaults.py`` prints every compared field as a table row, to write
the page from.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from rpusim import IOParameters, MappingParameters, RPUConfig, UpdateParameters, presets
from rpusim.devices import (
    ConstantStep,
    ExpStep,
    IdealDevice,
    LinearStep,
    PiecewiseStep,
    PowStep,
    PulsedDevice,
    SoftBounds,
    VectorUnitCell,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = json.loads((ROOT / "tests" / "data" / "aihwkit_defaults.json").read_text())
DOC = ROOT / "docs" / "aihwkit.md"

RPUSIM_CLASS: dict[str, type] = {
    "IOParameters": IOParameters,
    "UpdateParameters": UpdateParameters,
    "MappingParameter": MappingParameters,
    "SingleRPUConfig": RPUConfig,
    "PulsedDevice": PulsedDevice,
    "ConstantStepDevice": ConstantStep,
    "LinearStepDevice": LinearStep,
    "SoftBoundsDevice": SoftBounds,
    # aihwkit's ReRamSBPresetDevice is one; rpusim's reram_sb_device is SoftBounds with the
    # reference at 0 (see its docstring).
    "SoftBoundsReferenceDevice": SoftBounds,
    "ExpStepDevice": ExpStep,
    "PowStepDevice": PowStep,
    "PiecewiseStepDevice": PiecewiseStep,
    "IdealDevice": IdealDevice,
    "VectorUnitCell": VectorUnitCell,
}
"""The rpusim class that mirrors each aihwkit class (presets map through their base class)."""

ALIASES: dict[type, dict[str, str]] = {
    VectorUnitCell: {"unit_cell_devices": "devices", "gamma_vec": "gamma"},
}
"""aihwkit names that rpusim keeps as aliases (properties) of a field with another name."""

INTENDED: dict[tuple[str, str], str] = {
    ("SingleRPUConfig", "backward.bound_management"): (
        "aihwkit never bound-manages the backward pass (its backward MVM sets the type to None "
        "whatever the configuration says), neither does rpusim; rpusim's default says what "
        "happens"
    ),
    ("PresetIOParameters (backward)", "bound_management"): "as SingleRPUConfig.backward",
    ("VectorUnitCell", "unit_cell_devices"): "aihwkit's empty list cannot make a tile",
}
"""Every default in which rpusim differs from aihwkit on purpose: (docs class column, field)
-> why. Each has its row in docs/aihwkit.md."""

MEANING: dict[tuple[str, str], str] = {
    ("IOParameters", "max_bm_res"): "rpusim divides by the DAC step, aihwkit by inp_res",
    ("IOParameters", "is_perfect"): "rpusim ignores out_scale when perfect, aihwkit applies it",
    ("IOParameters", "w_noise"): "rpusim always applies it (aihwkit's w_noise_type additive)",
}
"""Shared names with the same default but not quite the same meaning; each row in
docs/aihwkit.md says how in its note."""

CLASS_ROOTS: list[tuple[str, str, Callable[[], Any]]] = [
    ("IOParameters", "IOParameters", IOParameters),
    ("UpdateParameters", "UpdateParameters", UpdateParameters),
    ("MappingParameter", "MappingParameter", MappingParameters),
    ("SingleRPUConfig", "SingleRPUConfig", RPUConfig),
    ("PulsedDevice", "PulsedDevice", PulsedDevice),
    ("ConstantStepDevice", "ConstantStepDevice", ConstantStep),
    ("LinearStepDevice", "LinearStepDevice", LinearStep),
    ("SoftBoundsDevice", "SoftBoundsDevice", SoftBounds),
    ("ExpStepDevice", "ExpStepDevice", ExpStep),
    ("PowStepDevice", "PowStepDevice", PowStep),
    ("PiecewiseStepDevice", "PiecewiseStepDevice", PiecewiseStep),
    ("IdealDevice", "IdealDevice", IdealDevice),
    ("VectorUnitCell", "VectorUnitCell", VectorUnitCell),
]
"""(docs class column, recorded class, rpusim default): the mirrored classes, every shared
field of which has a row in docs/aihwkit.md."""

DEVICE_PRESETS: dict[str, Callable[[], Any]] = {
    "IdealizedPresetDevice": presets.idealized_device,
    "GokmenVlasovPresetDevice": presets.gokmen_vlasov_device,
    "ReRamESPresetDevice": presets.reram_es_device,
    "ReRamSBPresetDevice": presets.reram_sb_device,
    "CapacitorPresetDevice": presets.capacitor_device,
    "EcRamPresetDevice": presets.ecram_device,
    "EcRamMOPresetDevice": presets.ecram_mo_device,
}
"""aihwkit's preset devices and the rpusim presets that name them."""

_UNIT_CELLS = {
    "Idealized": presets.idealized_device,
    "ReRamES": presets.reram_es_device,
    "ReRamSB": presets.reram_sb_device,
    "Capacitor": presets.capacitor_device,
    "EcRam": presets.ecram_device,
    "EcRamMO": presets.ecram_mo_device,
}

CONFIG_PRESETS: dict[str, tuple[Callable[[], RPUConfig], str | None]] = {
    "IdealizedPreset": (presets.idealized, "IdealizedPresetDevice"),
    "ReRamESPreset": (presets.reram_es, "ReRamESPresetDevice"),
    "ReRamSBPreset": (presets.reram_sb, "ReRamSBPresetDevice"),
    "CapacitorPreset": (presets.capacitor, "CapacitorPresetDevice"),
    "EcRamPreset": (presets.ecram, "EcRamPresetDevice"),
    "EcRamMOPreset": (presets.ecram_mo, "EcRamMOPresetDevice"),
    **{
        f"{name}{n}Preset": (
            lambda device=device, n=n: presets.unit_cell(device, n),
            None,
        )
        for name, device in _UNIT_CELLS.items()
        for n in (2, 4)
    },
}
"""aihwkit's preset configurations and the rpusim configuration of each (rpusim.presets and its
``unit_cell``), with the preset device of the single-device ones. rpusim's gokmen_vlasov() is
not aihwkit's GokmenVlasovPreset: it has the paper's periphery (only its device is compared)."""

# The rpusim names of CONFIG_PRESETS entries that rpusim.presets.CONFIG_PRESETS lists.
_NAMED_CONFIGS = {
    "idealized": "IdealizedPreset",
    "reram_es": "ReRamESPreset",
    "reram_sb": "ReRamSBPreset",
    "capacitor": "CapacitorPreset",
    "ecram": "EcRamPreset",
    "ecram_mo": "EcRamMOPreset",
    "reram_es_2": "ReRamES2Preset",
    "reram_sb_2": "ReRamSB2Preset",
    "ecram_2": "EcRam2Preset",
    "idealized_2": "Idealized2Preset",
}


# --- comparing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One compared name: ``where`` the docs' class column, ``field`` the (dotted) name below
    it, the two defaults, and whether they are the same."""

    where: str
    field: str
    aihwkit: Any
    rpusim: Any
    same: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.where, self.field)


def model_of(record: dict[str, Any]) -> type | None:
    """The rpusim class mirroring a recorded object's class (or its nearest base)."""
    for name in (record["__type__"], *record["__bases__"]):
        if name in RPUSIM_CLASS:
            return RPUSIM_CLASS[name]
    return None


def rpusim_name(cls: type, aihwkit_name: str) -> str | None:
    """The rpusim field that the aihwkit name refers to, or None when rpusim has none."""
    name = ALIASES.get(cls, {}).get(aihwkit_name, aihwkit_name)
    return name if name in {f.name for f in dataclasses.fields(cls)} else None


def aihwkit_names(record: dict[str, Any]) -> list[str]:
    return [k for k in record if not k.startswith("__")]


def bindings_of(record: dict[str, Any]) -> dict[str, Any]:
    """The C++-only attributes behind a recorded IOParameters/UpdateParameters."""
    for name in (record["__type__"], *record["__bases__"]):
        if name in DATA["bindings"]:
            return DATA["bindings"][name]
    return {}


def same_value(a: Any, r: Any) -> bool:
    """A recorded value equals an rpusim value: flags as flags, numbers by value, options as
    their strings, lists element by element."""
    if isinstance(a, bool) or isinstance(r, bool):
        return type(a) is type(r) and a == r
    if isinstance(a, str) and a in ("inf", "-inf") and isinstance(r, float):
        return float(a) == r
    if isinstance(a, (int, float)) and isinstance(r, (int, float)):
        return float(a) == float(r)
    if isinstance(a, list) and isinstance(r, list):
        return len(a) == len(r) and all(same_value(x, y) for x, y in zip(a, r))
    return type(a) is type(r) and a == r


def compare(where: str, record: dict[str, Any], obj: Any, prefix: str = "") -> Iterator[Entry]:
    """An Entry for every name the recorded object shares with the rpusim object, descending
    into nested objects and lists of devices."""
    cls = type(obj)
    assert model_of(record) is cls, f"{where}: {record['__type__']} is not an rpusim {cls}"
    names = aihwkit_names(record)
    for name in names:
        field = rpusim_name(cls, name)
        if field is not None:
            yield from compare_value(where, prefix + name, record[name], getattr(obj, field))
    for name, value in bindings_of(record).items():
        if name not in names and rpusim_name(cls, name) is not None:
            r = getattr(obj, name)
            same = bool(np.float32(value) == np.float32(r))
            yield Entry(where, prefix + name, value, r, same)


def compare_value(where: str, path: str, a: Any, r: Any) -> Iterator[Entry]:
    if isinstance(a, dict) and "__type__" in a:
        model = model_of(a)
        yield Entry(where, path, a["__type__"], type(r).__name__, model is type(r))
        if model is type(r):
            yield from compare(where, a, r, path + ".")
    elif (
        isinstance(a, list)
        and isinstance(r, list)
        and len(a) == len(r)
        and any(isinstance(x, dict) for x in a)
    ):
        for i, (x, y) in enumerate(zip(a, r)):
            yield from compare_value(where, f"{path}[{i}]", x, y)
    else:
        yield Entry(where, path, a, r, same_value(a, r))


def class_entries() -> list[Entry]:
    return [
        e
        for where, recorded, make in CLASS_ROOTS
        for e in compare(where, DATA["classes"][recorded], make())
    ]


def preset_entries() -> list[Entry]:
    classes = DATA["classes"]
    out = list(compare("PresetIOParameters", classes["PresetIOParameters"], presets.preset_io()))
    out += compare(
        "PresetIOParameters (backward)",
        classes["PresetIOParameters"],
        presets.preset_io(backward=True),
    )
    out += compare(
        "PresetUpdateParameters", classes["PresetUpdateParameters"], presets.preset_update()
    )
    for name, make in DEVICE_PRESETS.items():
        out += compare(name, DATA["device_presets"][name], make())
    for name, (make, _) in CONFIG_PRESETS.items():
        out += compare_value(name, "device", DATA["config_presets"][name]["device"], make().device)
    return out


def all_entries() -> list[Entry]:
    return class_entries() + preset_entries()


# --- the page -------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    """A default as docs/aihwkit.md writes it (in rpusim's notation: options as rpusim's
    strings, numbers by value)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        v = float(value)
        if v.is_integer():
            return str(int(v))
        text = repr(v)
        if len(text) > 10 and (1 / v).is_integer():
            return f"1/{int(1 / v)}"
        return text
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return f"{value['__type__']}()"
    if dataclasses.is_dataclass(value):
        return f"{type(value).__name__}()" if value == type(value)() else type(value).__name__
    return str(value)


def doc_rows() -> dict[tuple[str, str], list[str]]:
    """Every row of the page's default tables, by (class, field): [aihwkit, rpusim, why]."""
    rows: dict[tuple[str, str], list[str]] = {}
    in_table = False
    for line in DOC.read_text().splitlines():
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if line.startswith("| class | field | aihwkit 1.1 | rpusim |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not set(line) <= set("|-: "):
            assert len(cells) == 5, f"docs/aihwkit.md: a row needs five cells: {line}"
            key = (cells[0], cells[1])
            assert key not in rows, f"docs/aihwkit.md: two rows for {key}"
            rows[key] = cells[2:]
    return rows


def doc_section(heading: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/aihwkit.md has no section '## {heading}'"
    return match.group(1)


def shows(cell: str, value: Any) -> bool:
    """The docs cell writes the value (optionally followed by a remark)."""
    text = fmt(value)
    return cell == text or cell.startswith(text + " ")


def required_rows() -> list[Entry]:
    """The entries the page must have a row for: every top-level shared name of the mirrored
    classes (a device's PulsedDevice fields in the PulsedDevice rows, where they agree with
    them), and every difference."""
    pulsed = {
        e.field: e for e in compare("PulsedDevice", DATA["classes"]["PulsedDevice"], PulsedDevice())
    }
    roots = {where for where, _, _ in CLASS_ROOTS}
    out = []
    for e in all_entries():
        top_level = e.where in roots and "." not in e.field
        base = pulsed.get(e.field)
        inherited = (
            e.where != "PulsedDevice"
            and base is not None
            and (e.aihwkit, e.rpusim) == (base.aihwkit, base.rpusim)
        )
        if (top_level and not inherited) or not e.same:
            out.append(e)
    return out


# --- tests ----------------------------------------------------------------------------------


def test_recorded_from_aihwkit_1_1() -> None:
    assert DATA["aihwkit_version"] == "1.1.0"
    assert DATA["recorded_by"] == "tools/record_aihwkit_defaults.py"


def test_every_difference_is_intended() -> None:
    entries = all_entries()
    assert entries
    differences = {e.key: e for e in entries if not e.same}
    undeclared = [
        f"{w}.{f}: aihwkit {fmt(e.aihwkit)}, rpusim {fmt(e.rpusim)}"
        for (w, f), e in differences.items()
        if (w, f) not in INTENDED
    ]
    assert not undeclared, "defaults that differ from aihwkit 1.1 without a reason:\n" + "\n".join(
        undeclared
    )
    stale = [key for key in INTENDED if key not in differences]
    assert not stale, f"INTENDED lists differences that are none (any more): {stale}"


def test_mirrored_classes_share_the_expected_names() -> None:
    # A field renamed or dropped on one side would silently leave the comparison.
    shared = {(e.where, e.field) for e in class_entries() if "." not in e.field}
    for where, field in (
        ("IOParameters", "out_noise"),
        ("IOParameters", "nm_decay"),
        ("UpdateParameters", "desired_bl"),
        ("MappingParameter", "max_input_size"),
        ("SingleRPUConfig", "device"),
        ("PulsedDevice", "dw_min"),
        ("ExpStepDevice", "A_up"),
        ("VectorUnitCell", "unit_cell_devices"),
        ("VectorUnitCell", "gamma_vec"),
    ):
        assert (where, field) in shared
    assert len(shared) >= 100


def test_preset_configurations_are_aihwkits_composition() -> None:
    """aihwkit's preset configurations are its preset periphery with a preset device; rpusim's
    are built the same way, so comparing the parts compares the whole."""
    classes = DATA["classes"]
    io, update, mapping = (
        classes["PresetIOParameters"],
        classes["PresetUpdateParameters"],
        classes["MappingParameter"],
    )
    for name, (make, device) in CONFIG_PRESETS.items():
        record = DATA["config_presets"][name]
        assert (record["forward"], record["backward"], record["update"]) == (io, io, update)
        assert record["mapping"] == mapping, name
        if device is not None:
            assert record["device"] == DATA["device_presets"][device], name
        config = make()
        assert config.forward == presets.preset_io(), name
        assert config.backward == presets.preset_io(backward=True), name
        assert config.update == presets.preset_update(), name
        assert config.mapping == MappingParameters(), name
    for rpusim_name, aihwkit_name in _NAMED_CONFIGS.items():
        assert presets.CONFIG_PRESETS[rpusim_name]() == CONFIG_PRESETS[aihwkit_name][0]()


def test_docs_table_has_every_shared_name_with_both_defaults() -> None:
    rows = doc_rows()
    entries = {e.key: e for e in all_entries()}
    missing = [
        f"| {w} | {f} |" for (w, f) in {e.key for e in required_rows()} if (w, f) not in rows
    ]
    assert not missing, "docs/aihwkit.md has no row for:\n" + "\n".join(sorted(missing))
    for key, (aihwkit, rpusim, why) in rows.items():
        assert key in entries, f"docs/aihwkit.md: {key} is not a shared name (any more)"
        e = entries[key]
        assert shows(aihwkit, e.aihwkit), f"{key}: aihwkit's default is {fmt(e.aihwkit)}"
        assert shows(rpusim, e.rpusim), f"{key}: rpusim's default is {fmt(e.rpusim)}"
        if not e.same or key in MEANING:
            assert why, f"docs/aihwkit.md: {key} differs and needs a reason"
    for key in MEANING:
        assert key in rows and rows[key][2], f"docs/aihwkit.md: {key} needs a note"


def test_docs_name_the_fields_one_side_lacks() -> None:
    aihwkit_only = doc_section("aihwkit fields rpusim does not have")
    rpusim_only = doc_section("rpusim fields aihwkit does not have")
    for where, recorded, make in CLASS_ROOTS:
        record = DATA["classes"][recorded]
        cls = type(make())
        reached = set()
        for name in aihwkit_names(record) + list(bindings_of(record)):
            field = rpusim_name(cls, name)
            if field is not None:
                reached.add(field)
            elif name in record:
                assert f"`{name}`" in aihwkit_only, f"docs/aihwkit.md: aihwkit's {where}.{name}"
        for f in dataclasses.fields(cls):
            if f.name not in reached:
                assert f"`{f.name}`" in rpusim_only, f"docs/aihwkit.md: rpusim's {where}.{f.name}"


@pytest.mark.parametrize("key", sorted(INTENDED))
def test_intended_differences_are_documented(key: tuple[str, str]) -> None:
    rows = doc_rows()
    assert key in rows, f"docs/aihwkit.md has no row for {key}"
    assert rows[key][2], f"docs/aihwkit.md: {key} needs its reason"


if __name__ == "__main__":
    required = {e.key for e in required_rows()}
    for e in all_entries():
        if e.key in required or e.key in MEANING:
            note = INTENDED.get(e.key, MEANING.get(e.key, ""))
            print(f"| {e.where} | `{e.field}` | {fmt(e.aihwkit)} | {fmt(e.rpusim)} | {note} |")
