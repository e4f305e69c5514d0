"""The patches of a convolution as the rows a tile takes, as a step of autograd.

The engine cuts the patches (``rpusim._native.unfold_patches``) and, in the backward pass, adds
their gradients back onto the images (``fold_patches``), both on its worker threads with the
GIL released. torch's way, windows of the padded input as views made contiguous by one copy,
took half a second per VGG-8 batch in that copy alone (one torch thread, as the examples
train), and its backward through the views more; and the engine sums every pixel of the
input gradient in one fixed order, whatever the thread count.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import BackwardCFunction

from rpusim import _native
from rpusim.tile import _as_matrix

__all__ = ["Geometry", "patches"]

Geometry = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]
"""``(kernel, stride, padding, dilation)``, each ``(height, width)``."""


class _Patches(torch.autograd.Function):
    """``images (batch, channels, h, w) -> patches (batch * out_h * out_w, channels * kh * kw)``;
    the backward pass folds the patches' gradient back onto the images."""

    @staticmethod
    def forward(ctx: BackwardCFunction, images: Tensor, geometry: Geometry) -> Tensor:
        array, _ = _as_matrix("images", images)
        ctx.geometry = geometry  # type: ignore[attr-defined]
        ctx.image_shape = tuple(images.shape)  # type: ignore[attr-defined]
        return torch.from_numpy(_native.unfold_patches(array, *geometry))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None
        array, _ = _as_matrix("patches_grad", grad)
        images = _native.fold_patches(array, list(ctx.image_shape), *ctx.geometry)
        return torch.from_numpy(images), None


def patches(images: Tensor, geometry: Geometry) -> Tensor:
    """Every patch of the float32 CPU ``images`` (``(batch, channels, height, width)``) as a
    row, ``(batch * out_h * out_w, channels * kh * kw)``: the columns in the order of a
    convolution's weight (channel, kernel row, kernel column), the rows sample by sample and
    position by position; values on the zero padding are 0. Differentiable in ``images``."""
    return cast(Tensor, _Patches.apply(images, geometry))
