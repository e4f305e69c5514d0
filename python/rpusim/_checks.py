"""Type conversions of values (configuration fields and call arguments): each returns the
normalised value or raises TypeError/ConfigError naming ``owner.name``. The ranges of the
configuration's values are the engine's to check (:mod:`rpusim._parts`)."""

from __future__ import annotations

import enum
import math
import numbers

import numpy as np

from rpusim._native import ConfigError


def check_real(
    owner: str,
    name: str,
    value: object,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> float:
    """``value`` as a finite float within the given limits, or TypeError/ConfigError naming
    ``owner.name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}.{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{owner}.{name} must be finite, got {value!r}")
    if ge is not None and not v >= ge:
        raise ConfigError(f"{owner}.{name} must be >= {ge:g}, got {value!r}")
    if gt is not None and not v > gt:
        raise ConfigError(f"{owner}.{name} must be > {gt:g}, got {value!r}")
    if le is not None and not v <= le:
        raise ConfigError(f"{owner}.{name} must be <= {le:g}, got {value!r}")
    return v


def check_int(owner: str, name: str, value: object, *, ge: int, le: int | None = None) -> int:
    """``value`` as an int in ``[ge, le]`` (``le`` None: no upper bound), or
    TypeError/ConfigError naming ``owner.name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}.{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if le is None and v < ge:
        raise ConfigError(f"{owner}.{name} must be >= {ge}, got {v}")
    if le is not None and not ge <= v <= le:
        raise ConfigError(f"{owner}.{name} must be in [{ge}, {le}], got {v}")
    return v


def check_bool(owner: str, name: str, value: object) -> bool:
    """``value`` as a bool (numpy bools too), or TypeError naming ``owner.name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}.{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_option(owner: str, name: str, value: object, options: type[enum.Enum]) -> str:
    """The string value of a member of the str-enum ``options``, given as the member or its
    string; TypeError/ConfigError naming ``owner.name`` otherwise."""
    if isinstance(value, options):
        return str(value.value)
    if not isinstance(value, str):
        raise TypeError(
            f"{owner}.{name} must be a {options.__name__} or a string, got {type(value).__name__}"
        )
    allowed = [str(m.value) for m in options]
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{owner}.{name} must be one of {listed}, got {value!r}")
    return value
