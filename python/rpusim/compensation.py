"""The compensation measures of MODEL.md section 3 as run-time switches, and their schedulers.

Every measure is a field of :class:`~rpusim.RPUConfig` (noise management, bound management,
update and pulse-length management, ``desired_bl``, weight scaling, learning-rate scaling), so a
tile is *configured* with them when it is built. The functions here *switch* them on a running
tile or on every tile of a torch model (or on the layers you name), and the schedulers switch
them during training, stepped like ``torch.optim.lr_scheduler``::

    from rpusim import compensation as comp

    comp.set_noise_management(model, "none")                    # every tile, both passes
    comp.set_weight_scaling(model, omega=0.6, columnwise=True)  # map and re-program now
    schedulers = [
        comp.MultiStepParameter(model, "update.desired_bl", milestones=[500], values=[15]),
        comp.MultiStepParameter(model, "forward.bound_management", [100], ["iterative"]),
        comp.WeightRemapper(model, every=1000),
    ]
    for x, y in batches:
        ...  # forward, backward, optimizer.step()
        for s in schedulers:
            s.step()

A scheduler counts its ``step()`` calls (per optimizer step or per epoch, as you call it). Its
``state_dict()`` / ``load_state_dict()`` save that count with the model: the parameters it set
are part of every tile's configuration, and so of the model's ``state_dict()``.

The bias (digital or analog) is chosen per layer when it is built (``analog_bias=`` of the
layers and of :func:`rpusim.nn.convert_to_analog`): switching it changes the parameters an
optimizer holds, so it is not a run-time switch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

from rpusim._checks import check_int
from rpusim.config import SECTIONS, _section_type, patch_json
from rpusim.tile import AnalogTile

if TYPE_CHECKING:
    import torch

__all__ = [
    "CompensationScheduler",
    "MultiStepParameter",
    "ParameterScheduler",
    "WeightRemapper",
    "analog_tiles",
    "get_parameter",
    "remap_weights",
    "set_bound_management",
    "set_lr_scale",
    "set_noise_management",
    "set_parameter",
    "set_update_management",
    "set_weight_scaling",
]

Target = Union[AnalogTile, "torch.nn.Module"]
"""A tile, or a torch model whose analog layers hold tiles."""

Layers = Union[Iterable[str], Callable[[str], bool], None]
"""Which analog layers of a model: all (``None``), the layers of these ``named_modules()``
names, or those whose name passes a predicate."""

_SECTIONS = tuple(section for section in SECTIONS if section != "device")
"""The sections of a configuration that can change on a running tile (the device cannot)."""


def analog_tiles(target: Target, layers: Layers = None) -> list[tuple[str, AnalogTile]]:
    """``(name, tile)`` of every tile of ``target``: the tile itself (name ``""``), or every
    analog layer of a model (its ``named_modules()`` name), optionally only ``layers``."""
    if isinstance(target, AnalogTile):
        if layers is not None:
            raise ValueError("layers: a single tile has no layers to choose from")
        return [("", target)]
    from torch import nn

    from rpusim.nn import AnalogLayer

    if not isinstance(target, nn.Module):
        raise TypeError(
            f"target must be an AnalogTile or a torch.nn.Module, got {type(target).__name__}"
        )
    chosen = _layer_filter(layers)
    found = [
        (name, m.tile)
        for name, m in target.named_modules()
        if isinstance(m, AnalogLayer) and chosen(name)
    ]
    if layers is not None and not callable(layers):
        missing = set(layers) - {name for name, _ in found}
        if missing:
            raise ValueError(f"layers: no analog layer named {sorted(missing)}")
    return found


def _layer_filter(layers: Layers) -> Callable[[str], bool]:
    if layers is None:
        return lambda _: True
    if callable(layers):
        return layers
    if isinstance(layers, str):
        raise TypeError("layers must be an iterable of layer names, not a single string")
    names = set(layers)
    return lambda name: name in names


def _split(name: str) -> tuple[str, str]:
    section, _, field = name.partition(".")
    if section not in _SECTIONS or not field:
        raise ValueError(
            f"name must be 'section.field' with section one of {', '.join(_SECTIONS)}, got {name!r}"
        )
    fields = {f.name for f in dataclasses.fields(_section_type(section))}
    if field not in fields:
        raise ValueError(f"{name!r}: {section} has no field {field!r}")
    return section, field


def get_parameter(tile: AnalogTile, name: str) -> Any:
    """The value of ``name`` (``"section.field"``, e.g. ``"update.desired_bl"``) on a tile."""
    section, field = _split(name)
    return getattr(getattr(tile.rpu_config, section), field)


def set_parameter(target: Target, name: str, value: Any, *, layers: Layers = None) -> None:
    """Sets ``name`` (``"section.field"`` of :class:`~rpusim.RPUConfig`: ``forward``,
    ``backward``, ``update`` or ``mapping``) to ``value`` on every tile of ``target``.

    All or nothing: the value is checked (``TypeError``/``ValueError`` naming the field)
    before any tile changes. A changed ``mapping.weight_scaling_omega`` takes effect at the
    next mapping (:func:`remap_weights`)."""
    _configure(target, {name: value}, layers)


def _configure(target: Target, changes: dict[str, Any], layers: Layers) -> None:
    """Patches every tile with ``changes`` (``{"section.field": value}``), all or nothing: the
    engine checks the patch on every tile before any tile changes."""
    patch: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        section, field = _split(name)
        patch.setdefault(section, {})[field] = value
    text = patch_json(patch)
    tiles = [tile for _, tile in analog_tiles(target, layers)]
    for tile in tiles:
        tile._tile.check_config_patch(text)
    for tile in tiles:
        tile._tile.patch_config(text)


def set_noise_management(
    target: Target,
    noise_management: str,
    *,
    nm_thres: float | None = None,
    passes: Sequence[str] = ("forward", "backward"),
    layers: Layers = None,
) -> None:
    """Noise management (MODEL.md 3.1: ``"none"``, ``"abs_max"``, ``"max"``, ``"constant"``,
    ``"average_abs_max"``) of the forward and/or backward pass, and optionally its
    ``nm_thres``."""
    changes: dict[str, Any] = {}
    for p in passes:
        if p not in ("forward", "backward"):
            raise ValueError(f"passes: expected 'forward' and/or 'backward', got {p!r}")
        changes[f"{p}.noise_management"] = noise_management
        if nm_thres is not None:
            changes[f"{p}.nm_thres"] = nm_thres
    _configure(target, changes, layers)


def set_bound_management(target: Target, bound_management: str, *, layers: Layers = None) -> None:
    """Bound management of the forward pass (MODEL.md 3.2: ``"none"`` or ``"iterative"``)."""
    _configure(target, {"forward.bound_management": bound_management}, layers)


def set_update_management(
    target: Target,
    update_management: bool,
    update_bl_management: bool | None = None,
    *,
    desired_bl: int | None = None,
    layers: Layers = None,
) -> None:
    """Update management, pulse-length management (default: as ``update_management``) and
    optionally the maximal train length ``desired_bl`` (MODEL.md 3.3)."""
    ublm = update_management if update_bl_management is None else update_bl_management
    changes: dict[str, Any] = {
        "update.update_management": update_management,
        "update.update_bl_management": ublm,
    }
    if desired_bl is not None:
        changes["update.desired_bl"] = desired_bl
    _configure(target, changes, layers)


def set_weight_scaling(
    target: Target,
    omega: float,
    *,
    columnwise: bool | None = None,
    lr_compensation: bool | None = None,
    remap: bool = True,
    layers: Layers = None,
) -> None:
    """Weight scaling (MODEL.md 3.4): map ``max |W|`` (per tile, or per output row with
    ``columnwise``) onto ``omega``; ``omega = 0`` switches it off. With ``remap`` (default) the
    current effective weights are mapped and programmed at once."""
    changes: dict[str, Any] = {"mapping.weight_scaling_omega": omega}
    if columnwise is not None:
        changes["mapping.weight_scaling_columnwise"] = columnwise
    if lr_compensation is not None:
        changes["mapping.weight_scaling_lr_compensation"] = lr_compensation
    _configure(target, changes, layers)
    if remap:
        remap_weights(target, layers=layers)


def set_lr_scale(target: Target, lr_scale: float, *, layers: Layers = None) -> None:
    """Learning-rate scaling: every update of the tiles uses ``lr * lr_scale``."""
    _configure(target, {"mapping.lr_scale": lr_scale}, layers)


def remap_weights(target: Target, *, layers: Layers = None) -> None:
    """Re-maps every tile: reads its effective weights and programs them again onto the device
    range with a new digital scale (``mapping.weight_scaling_omega``)."""
    for _, tile in analog_tiles(target, layers):
        tile.remap()


class CompensationScheduler:
    """Base of the schedulers: counts :meth:`step` calls and acts on the tiles of a target.

    Like ``torch.optim.lr_scheduler``, construct it after the model, call :meth:`step` after
    each optimizer step (or each epoch: the count is whatever you step), and save
    :meth:`state_dict` with the model. Subclasses implement :meth:`_on_step`.

    Args:
        target: a tile or a torch model with analog layers.
        layers: which analog layers of a model (default all).
    """

    def __init__(self, target: Target, *, layers: Layers = None) -> None:
        analog_tiles(target, layers)  # checks the target and the layer names now
        self.target = target
        self.layers = layers
        self.last_step = 0
        """How many times :meth:`step` was called."""

    def step(self) -> None:
        """Advances the count by one and acts for the new count."""
        self.last_step += 1
        self._on_step(self.last_step)

    def _on_step(self, step: int) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain values (not the target)."""
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`. The parameters the scheduler set before are part of the
        tiles' configurations, restored with the model."""
        self.last_step = int(state["last_step"])


class ParameterScheduler(CompensationScheduler):
    """Sets ``name`` (``"section.field"``, as :func:`set_parameter`) to ``schedule(step)``
    after every step in which that value changes; ``None`` leaves the tiles as they are.

    Args:
        target: a tile or a torch model with analog layers.
        name: the parameter, e.g. ``"update.desired_bl"`` or ``"forward.noise_management"``.
        schedule: the value for a step count (the count starts at 0 and is 1 after the first
            :meth:`step`). Not saved by :meth:`state_dict` (as ``LambdaLR``).
        layers: which analog layers of a model (default all).
    """

    def __init__(
        self,
        target: Target,
        name: str,
        schedule: Callable[[int], Any],
        *,
        layers: Layers = None,
    ) -> None:
        super().__init__(target, layers=layers)
        _split(name)
        self.name = name
        self.schedule = schedule
        self.applied: Any = None
        """The last value set, ``None`` before the first."""
        self._on_step(0)

    def _on_step(self, step: int) -> None:
        value = self.schedule(step)
        if value is not None and value != self.applied:
            set_parameter(self.target, self.name, value, layers=self.layers)
            self.applied = value

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "applied": self.applied}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.applied = state["applied"]


class MultiStepParameter(ParameterScheduler):
    """Sets ``name`` to ``values[k]`` once the step count reaches ``milestones[k]`` (as
    ``MultiStepLR`` does for the learning rate); before the first milestone the tiles keep
    their configured value. E.g. a schedule of ``update.desired_bl``, or bound management
    switched on after a warm-up: ``MultiStepParameter(model, "forward.bound_management",
    [100], ["iterative"])``.

    Args:
        target: a tile or a torch model with analog layers.
        name: the parameter (``"section.field"``).
        milestones: increasing step counts.
        values: the value from each milestone on (as many as milestones).
        layers: which analog layers of a model (default all).
    """

    def __init__(
        self,
        target: Target,
        name: str,
        milestones: Sequence[int],
        values: Sequence[Any],
        *,
        layers: Layers = None,
    ) -> None:
        self.milestones = [int(m) for m in milestones]
        self.values = list(values)
        if len(self.milestones) != len(self.values):
            raise ValueError(
                f"values: expected one per milestone ({len(self.milestones)}), "
                f"got {len(self.values)}"
            )
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])) or any(
            m < 0 for m in self.milestones
        ):
            raise ValueError(f"milestones must be increasing and >= 0, got {self.milestones}")
        super().__init__(target, name, self._value_at, layers=layers)

    def _value_at(self, step: int) -> Any:
        reached = [v for m, v in zip(self.milestones, self.values) if step >= m]
        return reached[-1] if reached else None

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "milestones": self.milestones, "values": self.values}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.milestones = list(state["milestones"])
        self.values = list(state["values"])


class WeightRemapper(CompensationScheduler):
    """Periodic re-mapping (MODEL.md 3.4): every ``every`` steps, read the analog weights and
    program them again onto the device range with a new digital scale.

    Args:
        target: a tile or a torch model with analog layers.
        every: steps between re-mappings (>= 1).
        omega: sets ``mapping.weight_scaling_omega`` first (default: keep the configured one,
            which must be > 0 for the mapping to use the device range).
        columnwise: sets ``mapping.weight_scaling_columnwise`` first (default: keep it).
        layers: which analog layers of a model (default all).
    """

    def __init__(
        self,
        target: Target,
        every: int,
        *,
        omega: float | None = None,
        columnwise: bool | None = None,
        layers: Layers = None,
    ) -> None:
        super().__init__(target, layers=layers)
        self.every = check_int("WeightRemapper", "every", every, ge=1)
        changes: dict[str, Any] = {}
        if omega is not None:
            changes["mapping.weight_scaling_omega"] = omega
        if columnwise is not None:
            changes["mapping.weight_scaling_columnwise"] = columnwise
        if changes:
            _configure(target, changes, layers)

    @property
    def remaps(self) -> int:
        """How many re-mappings were done."""
        return self.last_step // self.every

    def _on_step(self, step: int) -> None:
        if step % self.every == 0:
            remap_weights(self.target, layers=self.layers)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "every": self.every}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.every = int(state["every"])
