"""Configuration of a tile: the periphery of the forward and backward passes, the pulsed update,
and the device model (MODEL.md sections 2-5).

The dataclasses mirror the engine's serde structs field by field, with aihwkit's names, so a
configuration converts to the engine's JSON by :meth:`RPUConfig.to_json` and back by
:meth:`RPUConfig.from_json` (the only two conversion functions). The engine's structs are the
one source of the defaults and of the checks: the fields take their defaults from the engine's
(``_native.default_config_json()``), and every dataclass, when it is built or converted,
converts its fields to their types (``TypeError`` naming the field) and has the engine check the
values in one call (:class:`~rpusim.ConfigError`, a ``ValueError``, naming the field:
``IOParameters.out_noise`` for a part on its own, ``forward.out_noise`` inside a configuration).

:data:`SECTIONS` lists the sections of a configuration (the fields of :class:`RPUConfig`). A
configuration read from a tile (:attr:`rpusim.AnalogTile.rpu_config`) is bound to it: assigning
a field changes the tile (:meth:`rpusim.AnalogTile.patch_config`).

Options are lowercase strings; the str-enums below are accepted too and stored as their string.

Units: a forward pass feeds its inputs to the DAC as ``x / alpha`` (``alpha`` the
noise-management scale), in *input units* where the DAC range is ``[-inp_bound, inp_bound]``; the
analog product of those inputs with the weights is in *output units*, where the ADC range is
``[-out_bound, out_bound]`` and the output noise is measured. With the defaults, a full-scale
input on one column and a weight of 1 give an output of 1.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, get_type_hints

from rpusim import _native
from rpusim._native import ConfigError
from rpusim._parts import ConfigPart, PatchSink, engine_defaults, plain
from rpusim.devices import DEVICE_TYPES, Device, IdealDevice, _device_of

__all__ = [
    "SECTIONS",
    "BoundManagementType",
    "IOParameters",
    "MappingParameters",
    "NoiseManagementType",
    "PulseType",
    "RPUConfig",
    "UpdateParameters",
]

_DEFAULTS = engine_defaults(_native.default_config_json())
"""The engine's default configuration: the defaults of the fields below."""
_FORWARD = _DEFAULTS["forward"]
_UPDATE = _DEFAULTS["update"]
_MAPPING = _DEFAULTS["mapping"]


class NoiseManagementType(str, enum.Enum):
    """How the digital input scale ``alpha`` of a pass is chosen (MODEL.md section 3.1)."""

    NONE = "none"
    """``alpha = 1``: inputs go to the DAC as they are."""
    ABS_MAX = "abs_max"
    """``alpha = max_j |x_j|`` (clipped from above at ``nm_thres`` when ``nm_thres > 0``)."""
    MAX = "max"
    """``alpha = max_j x_j``, clipped like ``abs_max``; a non-positive maximum gives 0."""
    CONSTANT = "constant"
    """``alpha = nm_thres`` (1 when ``nm_thres <= 0``)."""
    AVERAGE_ABS_MAX = "average_abs_max"
    """A running average over batches of the mean abs-max, with decay ``nm_decay``."""


class BoundManagementType(str, enum.Enum):
    """Whether a saturated forward pass is repeated with halved inputs (MODEL.md section 3.2)."""

    NONE = "none"
    """Saturated outputs are clipped at ``out_bound``."""
    ITERATIVE = "iterative"
    """Halve the inputs and repeat the whole pass while an output saturates."""


class PulseType(str, enum.Enum):
    """How the update is realised (MODEL.md section 4)."""

    NONE = "none"
    """Exact float update ``W -= lr d x^T``, clipped to the device bounds (a reference)."""
    STOCHASTIC_COMPRESSED = "stochastic_compressed"
    """Stochastic pulse trains of length BL on rows and columns; coincidences fire."""
    DETERMINISTIC_IMPLICIT = "deterministic_implicit"
    """``round(BL p_d p_x)`` pulses per device, no sampled trains."""


@dataclass
class IOParameters(ConfigPart):
    """Periphery of one analog matrix-vector product, forward or backward (MODEL.md section 2).

    The defaults are the paper's RPU baseline periphery, which are aihwkit 1.1's
    ``IOParameters`` defaults too (docs/aihwkit.md): a 7-bit DAC over ``[-1, 1]``, a 9-bit ADC
    over ``[-12, 12]``, output noise 0.06, abs-max noise management, iterative bound management
    (forward only).
    """

    is_perfect: bool = _FORWARD["is_perfect"]
    """Bypass the whole periphery: the pass returns the exact float32 product ``W x`` (no
    noise management, quantisation, noise, bounds; ``out_scale`` ignored). Default False."""

    inp_bound: float = _FORWARD["inp_bound"]
    """DAC range ``[-inp_bound, inp_bound]``, in input units; inputs beyond it are clipped.
    ``<= 0`` means unbounded (only without input quantisation). Default 1."""

    inp_res: float = _FORWARD["inp_res"]
    """DAC resolution as a fraction of the range ``2 * inp_bound``: the step is
    ``inp_res * 2 * inp_bound`` (a value > 1 is read as a number of steps, ``1 / inp_res``);
    ``<= 0`` means no quantisation. Default 1/126 (7 bits, step 1/63)."""

    inp_sto_round: bool = _FORWARD["inp_sto_round"]
    """Stochastic instead of nearest (ties to even) rounding in the DAC. Default False."""

    inp_noise: float = _FORWARD["inp_noise"]
    """Standard deviation of Gaussian noise added to every DAC output, in input units; >= 0.
    Default 0."""

    out_bound: float = _FORWARD["out_bound"]
    """ADC range ``[-out_bound, out_bound]``, in output units; outputs beyond it are clipped
    (and trigger bound management). ``<= 0`` means unbounded (only without output
    quantisation). Default 12."""

    out_res: float = _FORWARD["out_res"]
    """ADC resolution as a fraction of the range ``2 * out_bound``: the step is
    ``out_res * 2 * out_bound`` (a value > 1 is read as a number of steps); ``<= 0`` means no
    quantisation. Default 1/510 (9 bits, step 24/510)."""

    out_sto_round: bool = _FORWARD["out_sto_round"]
    """Stochastic instead of nearest (ties to even) rounding in the ADC. Default False."""

    out_noise: float = _FORWARD["out_noise"]
    """Standard deviation of the additive Gaussian output noise, in output units, fresh every
    pass; >= 0. Default 0.06."""

    w_noise: float = _FORWARD["w_noise"]
    """Weight noise referred to the output: ``w_noise * ||u||_2 * N(0, 1)`` is added to every
    output (``u`` the DAC outputs), in output units per input unit; >= 0. Default 0."""

    out_scale: float = _FORWARD["out_scale"]
    """Digital factor applied to every output (dimensionless). Default 1."""

    noise_management: str = _FORWARD["noise_management"]
    """Noise management, a :class:`NoiseManagementType` or its string. Default ``"abs_max"``."""

    nm_thres: float = _FORWARD["nm_thres"]
    """Upper clip of the abs-max scale, or the scale of ``constant`` noise management, in the
    units of ``x``; ``0`` switches the clip off. >= 0. Default 0."""

    nm_decay: float = _FORWARD["nm_decay"]
    """Decay per batch of the running average of ``average_abs_max`` noise management; in
    ``[0, 1]``. Default 0.001."""

    bound_management: str = _FORWARD["bound_management"]
    """Bound management, a :class:`BoundManagementType` or its string; ignored in the backward
    pass. Default ``"iterative"``."""

    max_bm_factor: float = _FORWARD["max_bm_factor"]
    """Bound management stops once the input reduction factor ``r`` exceeds this; >= 1.
    Default 1000."""

    max_bm_res: float = _FORWARD["max_bm_res"]
    """... or once ``r`` exceeds ``max_bm_res / inp_step`` (the DAC would lose all resolution);
    >= 0. Default 0.25 (with the 7-bit DAC: at most 5 passes)."""

    _section: ClassVar[str] = "forward"
    _options: ClassVar[dict[str, type[enum.Enum]]] = {
        "noise_management": NoiseManagementType,
        "bound_management": BoundManagementType,
    }

    @classmethod
    def perfect(cls) -> IOParameters:
        """The exact float32 product: ``IOParameters(is_perfect=True)``."""
        return cls(is_perfect=True)


@dataclass
class UpdateParameters(ConfigPart):
    """The pulsed update: update management and pulse trains (MODEL.md sections 3.3 and 4)."""

    desired_bl: int = _UPDATE["desired_bl"]
    """Maximal pulse-train length ``BL_max``, in pulses; in ``[1, 256]``. Default 31."""

    update_management: bool = _UPDATE["update_management"]
    """Balance the firing probabilities of ``x`` and ``d`` (UM), so that the largest entries of
    both fire equally often. Default True."""

    update_bl_management: bool = _UPDATE["update_bl_management"]
    """Shorten the train to the pulses needed, ``BL = min(ceil(k), desired_bl)`` (UBLM);
    implies ``update_management``. Default True."""

    pulse_type: str = _UPDATE["pulse_type"]
    """How the update is realised, a :class:`PulseType` or its string. Default
    ``"stochastic_compressed"``."""

    _section: ClassVar[str] = "update"
    _options: ClassVar[dict[str, type[enum.Enum]]] = {"pulse_type": PulseType}


@dataclass
class MappingParameters(ConfigPart):
    """Weight scaling, the digital factors of the update, and the size of one physical array
    (MODEL.md sections 3.4 and 3.5; aihwkit's ``MappingParameter``).

    With ``weight_scaling_omega > 0``, setting the weights ``W`` maps them onto the devices:
    ``alpha = max |W| / omega`` (per array, or per output row with
    ``weight_scaling_columnwise``), the devices are programmed with ``W / alpha``, forward
    outputs are multiplied by ``alpha``, backward errors enter multiplied by ``alpha``, and the
    update divides the errors by ``alpha``, so that training is SGD on ``alpha * W_analog``.
    Small initial weights then use the full conductance range. A changed ``omega`` takes effect
    at the next ``set_weights`` or ``remap()``.

    A matrix larger than ``max_output_size x max_input_size`` is held by a grid of physical
    arrays, each with its own periphery, noise and bound management, weight scaling and random
    streams (:attr:`rpusim.AnalogTile.tiles`).
    """

    weight_scaling_omega: float = _MAPPING["weight_scaling_omega"]
    """The analog weight that ``max |W|`` is mapped onto, in weight units; ``0`` switches weight
    scaling off (weights are programmed as they are). >= 0. Default 0."""

    weight_scaling_columnwise: bool = _MAPPING["weight_scaling_columnwise"]
    """One scale per output row instead of one per array. Default False."""

    weight_scaling_lr_compensation: bool = _MAPPING["weight_scaling_lr_compensation"]
    """Move the mean of the scales from the update's errors into its learning rate: the pulsed
    update gets ``lr / mean(alpha)`` and errors ``d * mean(alpha) / alpha`` instead of ``lr``
    and ``d / alpha``. The expected update is the same. With update management the pulse
    probabilities depend on ``lr * d`` only, so the update is the same too; without it the
    trains of ``x`` and ``d`` split the probability differently. Default False, as in
    aihwkit."""

    lr_scale: float = _MAPPING["lr_scale"]
    """Digital factor on the learning rate of every update of the tile (learning-rate
    scaling); >= 0. Default 1."""

    max_input_size: int = _MAPPING["max_input_size"]
    """Most inputs (columns) of one physical array; a layer with more is split over several,
    in nearly equal parts. ``0``: no limit. In [0, 2^32 - 1]. Default 512, as in aihwkit."""

    max_output_size: int = _MAPPING["max_output_size"]
    """Most outputs (rows) of one physical array; a layer with more is split over several,
    in nearly equal parts. ``0``: no limit. In [0, 2^32 - 1]. Default 512, as in aihwkit."""

    _section: ClassVar[str] = "mapping"


def _device_default() -> Device:
    return _device_of(_DEFAULTS["device"])


def _backward_default() -> IOParameters:
    return IOParameters(**_DEFAULTS["backward"])


@dataclass
class RPUConfig(ConfigPart):
    """Everything that defines a tile's behaviour: device model, periphery, update."""

    device: Device = field(default_factory=_device_default)
    """The device model of every cross-point (a class of :mod:`rpusim.devices`). Fixed once a
    tile is built. Default :class:`~rpusim.devices.ConstantStep` with aihwkit's defaults."""

    forward: IOParameters = field(default_factory=IOParameters)
    """Periphery of the forward pass ``y = W x``. Default ``IOParameters()``."""

    backward: IOParameters = field(default_factory=_backward_default)
    """Periphery of the backward pass ``z = W^T d``; bound management is never applied here.
    Default ``IOParameters(bound_management="none")`` (aihwkit's default says ``iterative``,
    which its backward pass ignores too: docs/aihwkit.md)."""

    update: UpdateParameters = field(default_factory=UpdateParameters)
    """The pulsed update. Default ``UpdateParameters()``."""

    mapping: MappingParameters = field(default_factory=MappingParameters)
    """Weight scaling and the learning-rate factors. Default ``MappingParameters()`` (off)."""

    @classmethod
    def floating_point(cls) -> RPUConfig:
        """Plain float32 arithmetic, for comparison: perfect forward and backward passes and the
        ideal device's exact, unbounded update."""
        return cls(
            device=IdealDevice(),
            forward=IOParameters.perfect(),
            backward=IOParameters.perfect(),
        )

    def validate(self) -> None:
        """Checks the types of the parts, converts their fields to their types, and has the
        engine check the whole configuration in one call (errors name the field as
        ``forward.out_noise``)."""
        self.to_json()

    def to_json(self) -> str:
        """The engine's JSON form, checked by the engine: every field of every part, the
        device tagged by its class name (``{"device": {"type": "ConstantStep", ...},
        "forward": {...}, ...}``)."""
        self._convert_fields()
        text = self._document_text()
        _native.validate_config(text)
        return text

    @classmethod
    def from_json(cls, text: str) -> RPUConfig:
        """Reads the engine's JSON form (as :meth:`to_json` writes it, or as
        ``tile.get_config_json()`` returns it). Missing sections and fields take their
        defaults; the engine checks the document first, so unknown fields, device types and
        bad values raise :class:`~rpusim.ConfigError` naming them."""
        _native.validate_config(text)
        document: dict[str, Any] = json.loads(text)  # Python's float parsing is exact
        parts: dict[str, Any] = {}
        for name, value in document.items():
            if not isinstance(value, dict):
                # The engine also reads a struct from a JSON array of its fields in order.
                raise ConfigError(
                    f"configuration: section {name!r} must be a JSON object of its fields by "
                    f"name, got {type(value).__name__}"
                )
            part_type = _section_type(name)
            parts[name] = _device_of(value) if part_type is Device else part_type(**value)
        return cls(**parts)

    @classmethod
    def _convert(cls, name: str, value: object, owner: str) -> object:
        part_type = _section_type(name)
        if part_type is Device:
            device_type = DEVICE_TYPES.get(type(value).__name__)
            if device_type is None or type(value) is not device_type:
                known = ", ".join(DEVICE_TYPES)
                raise TypeError(
                    f"{owner}.device must be a device model ({known}), got {type(value).__name__}"
                )
        elif not isinstance(value, part_type):
            raise TypeError(
                f"{owner}.{name} must be {part_type.__name__}, got {type(value).__name__}"
            )
        assert isinstance(value, ConfigPart)
        value._convert_fields()
        return value

    def _bind(self, sink: PatchSink) -> None:
        super()._bind(sink)
        for name in SECTIONS:

            def patch_section(change: dict[str, Any], name: str = name) -> None:
                sink({name: change})

            getattr(self, name)._bind(patch_section)


SECTIONS: tuple[str, ...] = tuple(f.name for f in fields(RPUConfig))
"""The sections of a configuration, in the engine's order: ``device``, ``forward``,
``backward``, ``update``, ``mapping`` (the fields of :class:`RPUConfig`)."""


_SECTION_TYPES: dict[str, type[ConfigPart]] = get_type_hints(RPUConfig)


def _section_type(section: str) -> type[ConfigPart]:
    """The dataclass of a section (:class:`~rpusim.devices.Device` for ``device``)."""
    return _SECTION_TYPES[section]


def patch_json(patch: Mapping[str, Any]) -> str:
    """A merge patch of a configuration (``{"forward": {"out_noise": 0.0}}``) as the engine's
    JSON, its values converted to the types of the fields they name (TypeError naming
    ``forward.out_noise``). Sections and fields the dataclasses do not know are passed on for
    the engine to refuse by name; device fields, which depend on the model, are passed as they
    are (the engine refuses any change of the device)."""
    if not isinstance(patch, Mapping):
        raise TypeError(f"patch must be a mapping of sections, got {type(patch).__name__}")
    document: dict[str, Any] = {}
    for section, change in patch.items():
        part_type = _SECTION_TYPES.get(section)
        if part_type is None or part_type is Device or not isinstance(change, Mapping):
            document[section] = change
            continue
        names = {f.name for f in fields(part_type)}
        document[section] = {
            name: value
            if value is None or name not in names
            else plain(part_type._convert(name, value, section))
            for name, value in change.items()
        }
    try:
        return json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"patch: not representable in JSON: {e}") from None
