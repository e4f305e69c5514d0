"""The base of the configuration dataclasses (:mod:`rpusim.config`, :mod:`rpusim.devices`).

The engine's serde structs are the one source of the defaults and of the checks: a part takes
its defaults from the engine (:func:`engine_defaults`), converts its fields to their declared
Python types (the only checks written here: what a JSON document cannot carry or the engine
could not name), and asks the engine to check the values in one native call. A part read from
a tile (``tile.rpu_config``) is bound to it: assigning to a field changes the tile.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, fields
from typing import Any, ClassVar

from rpusim import _native
from rpusim._checks import check_bool, check_int, check_option, check_real

PatchSink = Callable[[dict[str, Any]], None]
"""Where a bound part sends a change: a JSON merge patch of the part's own document."""

_U32_MAX = 2**32 - 1


def engine_defaults(document: str) -> dict[str, Any]:
    """The engine's JSON of its defaults (``_native.default_config_json()`` or
    ``default_device_json(name)``) as a dictionary, for the dataclass field defaults."""
    defaults: dict[str, Any] = json.loads(document)
    return defaults


def convert(owner: str, name: str, declared: str, value: object) -> object:
    """``value`` as the declared type of field ``owner.name`` (``"float"``, ``"bool"``,
    ``"int"``, ``"list[float]"``), or TypeError/ConfigError naming it.

    What the engine cannot check is checked here: a JSON number is finite, so non-finite
    floats are refused, and integer fields are the engine's unsigned 32-bit ones."""
    # The common cases first: a value of the declared type already.
    if declared == "float":
        if type(value) is float and math.isfinite(value):
            return value
        return check_real(owner, name, value)
    if declared == "bool":
        return value if type(value) is bool else check_bool(owner, name, value)
    if declared == "int":
        if type(value) is int and 0 <= value <= _U32_MAX:
            return value
        return check_int(owner, name, value, ge=0, le=_U32_MAX)
    if declared == "list[float]":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{owner}.{name} must be a list of numbers, got {type(value).__name__}")
        return [check_real(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
    raise TypeError(f"{owner}.{name}: no conversion for the declared type {declared}")


def plain(value: object) -> object:
    """A field value as JSON data (lists copied, parts as their documents)."""
    if isinstance(value, ConfigPart):
        return value.to_document()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_DECLARED_TYPES: dict[type, dict[str, str]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """The names of the fields of the dataclass ``cls``, in order (computed once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _declared_types(cls: type) -> dict[str, str]:
    """The declared type of every field of the dataclass ``cls``, as written."""
    declared = _DECLARED_TYPES.get(cls)
    if declared is None:
        declared = _DECLARED_TYPES[cls] = {f.name: str(f.type) for f in fields(cls)}
    return declared


class ConfigPart:
    """A configuration dataclass whose values the engine checks.

    Subclasses are dataclasses; ``_section`` names the section of the engine's configuration
    they are checked as, ``_options`` the str-enum of each option field.
    """

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    _section: ClassVar[str]
    _options: ClassVar[Mapping[str, type[enum.Enum]]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Converts every field to its declared type (numbers to float or int, options to
        their strings; TypeError naming the field) and has the engine check the values
        (:class:`~rpusim.ConfigError` naming the field as ``Class.field``).

        Runs on construction; call it again after changing fields of an unbound part by hand
        (converting a configuration for the engine does)."""
        self._convert_fields()
        _native.validate_config_section(self._section, self._document_text(), self._owner())

    def to_document(self) -> dict[str, Any]:
        """The engine's JSON object of this part: every field by its name."""
        return {name: plain(getattr(self, name)) for name in self._field_names()}

    def _field_names(self) -> tuple[str, ...]:
        return _field_names(type(self))

    def _owner(self) -> str:
        return type(self).__name__

    def _checked_document(self) -> dict[str, Any]:
        """The document the engine checks: :meth:`to_document`."""
        return self.to_document()

    def _document_text(self) -> str:
        """The JSON of :meth:`_checked_document`, once the fields are converted."""
        return json.dumps(self._checked_document(), allow_nan=False)

    def _convert_fields(self) -> None:
        for name in self._field_names():
            object.__setattr__(self, name, self._convert(name, getattr(self, name), self._owner()))

    @classmethod
    def _convert(cls, name: str, value: object, owner: str) -> object:
        """``value`` as the declared type of field ``name``; errors name it ``owner.name``."""
        options = cls._options.get(name)
        if options is not None:
            return check_option(owner, name, value, options)
        return convert(owner, name, _declared_types(cls)[name], value)

    # --- bound to a tile ------------------------------------------------------------------------

    def _bind(self, sink: PatchSink) -> None:
        """Sends every later assignment to a field to ``sink`` (as a merge patch) before it is
        made; subclasses bind their parts too."""
        object.__setattr__(self, "_write_through", sink)

    def __setattr__(self, name: str, value: Any) -> None:
        sink: PatchSink | None = self.__dict__.get("_write_through")
        if sink is None or name not in self._field_names():
            object.__setattr__(self, name, value)
            return
        value = self._convert(name, value, self._owner())
        sink({name: plain(value)})  # the tile checks it; an error leaves both unchanged
        object.__setattr__(self, name, value)
        self._bind(sink)  # a part assigned in is bound too

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles are plain configurations, not bound to the tile.
        return {k: v for k, v in self.__dict__.items() if k != "_write_through"}
