"""Layers whose weight matrix lives on one analog tile: linear and convolution layers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar, Union

import torch
from torch import Tensor, nn

from rpusim._native import StateError
from rpusim.config import RPUConfig
from rpusim.nn._context import AnalogContext, analog_matmul
from rpusim.nn._patches import patches
from rpusim.tile import AnalogTile

__all__ = ["AnalogConv1d", "AnalogConv2d", "AnalogLayer", "AnalogLinear"]

_SEED_LIMIT = 2**63 - 1


def _draw_seed() -> int:
    """A tile seed from torch's global generator, so that ``torch.manual_seed`` makes a model's
    devices and noise reproducible, as it makes its initial weights."""
    return int(torch.randint(0, _SEED_LIMIT, (1,), dtype=torch.int64).item())


class AnalogLayer(nn.Module):
    """Base of the layers whose weight matrix lives on one analog tile.

    The weight (``weight_shape``, torch's layout) is stored on the tile as a matrix of
    ``weight_shape[0]`` rows (outputs) and ``prod(weight_shape[1:])`` columns (inputs). The bias
    is a digital ``torch.nn.Parameter``, trained by the optimizer's float step, or, with
    ``analog_bias=True``, one more column of the tile, fed with a constant input 1 and trained by
    pulses like the weights.

    The tile is reached through ``layer.tile``; ``layer.analog_ctx`` is the empty parameter that
    stands for it in ``layer.parameters()``. ``state_dict()`` carries the tile's whole state
    (weights, devices, configuration, random counters) in the layer's ``_extra_state``.
    Tiles compute in float32 on the CPU.

    Args:
        weight_shape: the shape of the weight in torch's layout, outputs first.
        bias: whether the layer has a bias.
        rpu_config: the tile's configuration; default ``RPUConfig()``.
        analog_bias: keep the bias on the tile (an extra input column) instead of digitally.
        seed: the tile's seed; default: drawn from torch's global generator.
    """

    analog_ctx: AnalogContext
    bias: nn.Parameter | None
    analog_bias: bool
    """Whether the bias is the tile's last column (fed with 1) rather than a digital parameter."""
    weight_shape: tuple[int, ...]
    """The weight's shape in torch's layout (outputs first)."""

    def __init__(
        self,
        weight_shape: Sequence[int],
        bias: bool,
        rpu_config: RPUConfig | None,
        analog_bias: bool,
        seed: int | None,
    ) -> None:
        super().__init__()
        self.weight_shape = tuple(weight_shape)
        self.analog_bias = bool(bias and analog_bias)
        out_size = self.weight_shape[0]
        in_size = math.prod(self.weight_shape[1:]) + int(self.analog_bias)
        tile = AnalogTile(out_size, in_size, rpu_config, _draw_seed() if seed is None else seed)
        self.analog_ctx = AnalogContext(tile)
        if bias and not analog_bias:
            self.bias = nn.Parameter(torch.empty(out_size))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    @property
    def tile(self) -> AnalogTile:
        """The analog tile that holds the weights (and the analog bias)."""
        return self.analog_ctx.analog_tile

    @property
    def has_bias(self) -> bool:
        """Whether the layer has a bias, digital or analog."""
        return self.bias is not None or self.analog_bias

    def reset_parameters(self) -> None:
        """Draws initial weights as torch's linear and convolution layers do (uniform in
        ``+-1/sqrt(fan_in)``, from torch's global generator) and programs them."""
        weight = torch.empty(self.weight_shape)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        bias = None
        if self.has_bias:
            bound = 1 / math.sqrt(math.prod(self.weight_shape[1:]))
            bias = torch.empty(self.weight_shape[0]).uniform_(-bound, bound)
        self.set_weights(weight, bias)

    def get_weights(self) -> tuple[Tensor, Tensor | None]:
        """Copies of the weight (shape ``weight_shape``) as the tile holds it, and of the bias
        (``None`` without one)."""
        matrix = torch.from_numpy(self.tile.get_weights())
        if self.analog_bias:
            return matrix[:, :-1].reshape(self.weight_shape), matrix[:, -1].clone()
        bias = None if self.bias is None else self.bias.detach().clone()
        return matrix.reshape(self.weight_shape), bias

    def set_weights(self, weight: Tensor, bias: Tensor | None = None) -> None:
        """Programs ``weight`` (shape ``weight_shape``) onto the tile, each value clipped to its
        device's bounds, and sets the bias when one is given (an analog bias is clipped too).

        Args:
            weight: the weight in torch's layout; any float dtype, on the CPU.
            bias: ``(weight_shape[0],)``; ``None`` keeps the current bias.
        """
        weight = weight.detach().to(torch.float32)
        if tuple(weight.shape) != self.weight_shape:
            raise ValueError(
                f"weight: expected shape {self.weight_shape}, got {tuple(weight.shape)}"
            )
        out_size = self.weight_shape[0]
        if bias is not None:
            if not self.has_bias:
                raise ValueError(f"bias: {type(self).__name__} was built without a bias")
            bias = bias.detach().to(torch.float32)
            if tuple(bias.shape) != (out_size,):
                raise ValueError(f"bias: expected shape ({out_size},), got {tuple(bias.shape)}")
        matrix = weight.reshape(out_size, -1)
        if self.analog_bias:
            column = bias if bias is not None else self.get_weights()[1]
            assert column is not None
            matrix = torch.cat((matrix, column.reshape(out_size, 1)), dim=1)
        self.tile.set_weights(matrix.contiguous())
        if bias is not None and self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(bias)

    def _analog_matmul(self, x: Tensor) -> Tensor:
        """``W x + b`` for a ``(batch, in)`` matrix: the tile's forward pass (in eval mode as a
        test pass), plus the bias."""
        if self.analog_bias:
            x = torch.cat((x, x.new_ones(x.shape[0], 1)), dim=1)
        y = analog_matmul(self.analog_ctx, x, not self.training)
        return y if self.bias is None else y + self.bias

    def _copy_weights_to(self, module: nn.Linear | nn.Conv1d | nn.Conv2d) -> None:
        """Copies the weights and the bias into a torch layer of the same shape."""
        weight, bias = self.get_weights()
        with torch.no_grad():
            module.weight.copy_(weight)
            if bias is not None:
                assert module.bias is not None
                module.bias.copy_(bias)
        module.train(self.training)

    def get_extra_state(self) -> dict[str, Any]:
        """The tile's whole state and what the layer is, for ``state_dict()`` (plain values:
        safe for ``torch.load(..., weights_only=True)``): ``layer`` (the class name),
        ``weight_shape``, ``analog_bias`` and ``tile``."""
        return {
            "layer": type(self).__name__,
            "weight_shape": list(self.weight_shape),
            "analog_bias": self.analog_bias,
            "tile": self.tile.state_dict(),
        }

    def set_extra_state(self, state: Any) -> None:
        """Restores the tile from :meth:`get_extra_state` of a layer of the same class, weight
        shape and bias kind (:class:`~rpusim.StateError` otherwise, the layer unchanged) and
        drops pairs stored for an update that will not come."""
        self._check_layer_state(state)
        self.tile.load_state_dict(state["tile"])
        self.analog_ctx.stored.clear()

    def _check_layer_state(self, state: Any) -> None:
        """Whether ``state`` (from :meth:`get_extra_state`) is of a layer like this one: the
        same class, weight shape and bias kind (its tile is the tile's to check)."""
        if not isinstance(state, Mapping) or "tile" not in state:
            raise ValueError(
                f"{type(self).__name__}: the state has no tile (expected {{'tile': ...}} from "
                f"get_extra_state(), got {type(state).__name__})"
            )
        name = type(self).__name__
        saved = (state.get("layer"), state.get("weight_shape"), state.get("analog_bias"))
        expected = (name, list(self.weight_shape), self.analog_bias)
        for what, got, want in zip(("layer", "weight_shape", "analog_bias"), saved, expected):
            if got != want:
                raise StateError(
                    f"{name}: the state's {what} is {got!r}, this layer's is {want!r} (a state "
                    f"loads only into a layer of the same class, weight shape and bias kind)"
                )

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # All or nothing for the layer: the tile state and the bias are checked before torch
        # copies the bias, and a problem joins torch's list of errors (its RuntimeError). The
        # tile's bytes are read twice (here and when set_extra_state loads them): loading is
        # rare, and the layer keeps no half-loaded state between the two.
        key = prefix + "_extra_state"
        if key in state_dict:
            bias = state_dict.get(prefix + "bias")
            try:
                self._check_layer_state(state_dict[key])
                self.tile.check_state_dict(state_dict[key]["tile"])
                own = self.bias
                if own is not None and isinstance(bias, Tensor) and bias.shape != own.shape:
                    raise StateError(
                        f"bias: expected shape {tuple(own.shape)}, got {tuple(bias.shape)}"
                    )
            except (ValueError, TypeError) as error:
                error_msgs.append(f"{key}: {error}")
                return
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class AnalogLinear(AnalogLayer):
    """``y = W x + b`` with ``W`` on an analog tile; a drop-in for ``torch.nn.Linear``.

    Inputs are float32 CPU tensors of shape ``(*, in_features)``. In training mode the tile's
    forward pass advances its running statistics (``average_abs_max`` noise management), in
    eval mode it does not. See :class:`AnalogLayer` for the bias, the weights and the state.

    Args:
        in_features: size of each input.
        out_features: size of each output.
        bias: whether the layer has a bias.
        rpu_config: the tile's configuration; default ``RPUConfig()``.
        analog_bias: keep the bias on the tile (an extra input column fed with 1).
        seed: the tile's seed; default: drawn from torch's global generator.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rpu_config: RPUConfig | None = None,
        *,
        analog_bias: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__((out_features, in_features), bias, rpu_config, analog_bias, seed)
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"AnalogLinear: expected an input of shape (*, {self.in_features}), "
                f"got {tuple(x.shape)}"
            )
        y = self._analog_matmul(x.reshape(-1, self.in_features))
        return y.reshape(*x.shape[:-1], self.out_features)

    @classmethod
    def from_digital(
        cls, module: nn.Linear, rpu_config: RPUConfig | None = None, *, analog_bias: bool = False
    ) -> AnalogLinear:
        """An analog copy of ``module`` with its weights programmed (clipped to the devices'
        bounds) and its training mode."""
        layer = cls(
            module.in_features,
            module.out_features,
            module.bias is not None,
            rpu_config,
            analog_bias=analog_bias,
        )
        layer.set_weights(module.weight, module.bias)
        return layer.train(module.training)

    def to_digital(self) -> nn.Linear:
        """A ``torch.nn.Linear`` with the weights the tile holds."""
        linear = nn.Linear(self.in_features, self.out_features, self.has_bias)
        self._copy_weights_to(linear)
        return linear

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.has_bias}, analog_bias={self.analog_bias}"
        )


IntOrTuple = Union[int, Sequence[int]]


def _tuple(name: str, value: IntOrTuple, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    values = tuple(value)
    if len(values) != dims or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{name} must be an int or a tuple of {dims} ints, got {value!r}")
    return values


def _padding(
    padding: IntOrTuple | str,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """The padding on each side; ``"valid"`` is none, ``"same"`` keeps the size (stride 1,
    and only where it pads both sides equally: an odd ``dilation * (kernel_size - 1)``
    needs an asymmetric padding, which is not supported)."""
    if padding == "valid":
        return (0,) * len(kernel_size)
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        if any(t % 2 for t in total):
            raise NotImplementedError(
                "padding='same' with an odd dilation * (kernel_size - 1) pads asymmetrically, "
                "which analog convolutions do not support; give the padding explicitly"
            )
        return tuple(t // 2 for t in total)
    if isinstance(padding, str):
        raise ValueError(f"padding must be 'valid', 'same', an int or a tuple, got {padding!r}")
    return _tuple("padding", padding, len(kernel_size))


ConvT = TypeVar("ConvT", bound="_AnalogConv")


class _AnalogConv(AnalogLayer):
    """A convolution as one matrix product: every patch of the input (``unfold``, im2col) is
    one sample of a single tile call for the whole batch, so the backward pass stores all
    patches as the batch of one update. The subclasses set the number of spatial dimensions
    and the torch layer they stand for."""

    dims: ClassVar[int]
    digital_type: ClassVar[type[nn.Conv1d] | type[nn.Conv2d]]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        rpu_config: RPUConfig | None = None,
        *,
        analog_bias: bool = False,
        seed: int | None = None,
    ) -> None:
        name = type(self).__name__
        if groups != 1:
            raise NotImplementedError(f"{name}: only groups=1 is supported, got {groups}")
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        kernel = _tuple("kernel_size", kernel_size, self.dims)
        strides = _tuple("stride", stride, self.dims)
        dilations = _tuple("dilation", dilation, self.dims)
        paddings = _padding(padding, kernel, strides, dilations)
        super().__init__((out_channels, in_channels, *kernel), bias, rpu_config, analog_bias, seed)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel
        self.stride = strides
        self.padding = paddings
        self.dilation = dilations

    def _as_2d(self, values: tuple[int, ...], fill: int) -> tuple[int, int]:
        """A parameter for ``unfold``, which is 2-D only: a 1-D convolution is a 2-D one of
        height 1."""
        return (fill, values[0]) if self.dims == 1 else (values[0], values[1])

    def forward(self, x: Tensor) -> Tensor:
        unbatched = x.dim() == self.dims + 1
        if unbatched:
            x = x.unsqueeze(0)
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            sizes = ", ".join(["size"] * self.dims)
            raise ValueError(
                f"{type(self).__name__}: expected an input of shape (batch, "
                f"{self.in_channels}, {sizes}) or without the batch, got {tuple(x.shape)}"
            )
        images = x.unsqueeze(2) if self.dims == 1 else x
        kernel = self._as_2d(self.kernel_size, 1)
        stride = self._as_2d(self.stride, 1)
        padding = self._as_2d(self.padding, 0)
        dilation = self._as_2d(self.dilation, 1)
        out_size = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, k, s, p, d in zip(images.shape[2:], kernel, stride, padding, dilation)
        ]
        y = self._analog_matmul(patches(images, (kernel, stride, padding, dilation)))
        # (batch, out_h, out_w, out_channels) seen as (batch, out_channels, out_h, out_w):
        # a view, no copy (torch's layers take any strides).
        batch = images.shape[0]
        y = y.view(batch, *out_size, self.out_channels).permute(0, 3, 1, 2)
        if self.dims == 1:
            y = y.squeeze(2)
        return y.squeeze(0) if unbatched else y

    @classmethod
    def from_digital(
        cls: type[ConvT],
        module: nn.Conv1d | nn.Conv2d,
        rpu_config: RPUConfig | None = None,
        *,
        analog_bias: bool = False,
    ) -> ConvT:
        """An analog copy of ``module`` (a torch convolution of this class's dimension) with
        its weights programmed (clipped to the devices' bounds) and its training mode."""
        if not isinstance(module, cls.digital_type):
            raise TypeError(
                f"{cls.__name__}.from_digital needs a {cls.digital_type.__name__}, "
                f"got {type(module).__name__}"
            )
        layer = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            module.stride,
            module.padding,
            module.dilation,
            module.groups,
            module.bias is not None,
            module.padding_mode,
            rpu_config,
            analog_bias=analog_bias,
        )
        layer.set_weights(module.weight, module.bias)
        return layer.train(module.training)

    def to_digital(self) -> nn.Conv1d | nn.Conv2d:
        """The torch convolution (``digital_type``) with the weights the tile holds."""
        conv = self.digital_type(
            self.in_channels,
            self.out_channels,
            self.kernel_size,  # type: ignore[arg-type]  # a tuple of dims ints
            stride=self.stride,  # type: ignore[arg-type]
            padding=self.padding,  # type: ignore[arg-type]
            dilation=self.dilation,  # type: ignore[arg-type]
            bias=self.has_bias,
        )
        self._copy_weights_to(conv)
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.has_bias}, analog_bias={self.analog_bias}"
        )


class AnalogConv1d(_AnalogConv):
    """A 1-D convolution with its kernel on an analog tile; a drop-in for
    ``torch.nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation,
    groups, bias, padding_mode)`` followed by ``rpu_config``, ``analog_bias`` and ``seed``.

    Supported: stride, dilation, and padding as ints, ``"valid"``, or ``"same"`` where it is
    symmetric; ``groups=1`` and ``padding_mode="zeros"`` only. Every output position of every
    sample is one row of a single tile call for the whole batch (im2col). Inputs are float32
    CPU tensors ``(batch, in_channels, length)`` or ``(in_channels, length)``; the weight's
    shape is ``(out_channels, in_channels, kernel_size)``. See :class:`AnalogLayer` for the
    bias, the weights and the state.
    """

    dims = 1
    digital_type = nn.Conv1d


class AnalogConv2d(_AnalogConv):
    """A 2-D convolution with its kernel on an analog tile; a drop-in for
    ``torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
    groups, bias, padding_mode)`` followed by ``rpu_config``, ``analog_bias`` and ``seed``.

    Supported: stride, dilation, and padding as ints, ``"valid"``, or ``"same"`` where it is
    symmetric; ``groups=1`` and ``padding_mode="zeros"`` only. Every output pixel of every
    sample is one row of a single tile call for the whole batch (im2col). Inputs are float32
    CPU tensors ``(batch, in_channels, height, width)`` or without the batch; the weight's
    shape is ``(out_channels, in_channels, kh, kw)``. See :class:`AnalogLayer` for the bias,
    the weights and the state.
    """

    dims = 2
    digital_type = nn.Conv2d
