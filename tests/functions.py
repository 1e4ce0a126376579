"""Correct and deliberately broken custom autograd Functions that gradprops' own tests check."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function


class Sin(Function):
    """Correct: d sin = cos."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * x.cos()


class MulAdd(Function):
    """Correct, two inputs: x * y + x."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, y)
        return x * y + x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, y = ctx.saved_tensors
        return grad * (y + 1), grad * x


class SinCos(Function):
    """Correct, two outputs: (sin x, cos x)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, g_sin: Tensor, g_cos: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() - g_cos * x.sin()


class IgnoresSeed(Function):
    """Broken: assumes the seed is all ones (right only for y.sum().backward())."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return x.cos()


class NonlinearInSeed(Function):
    """Broken: uses |grad_output|, so negative seeds come out wrong."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad.abs() * x.cos()


class WritesIntoSeed(Function):
    """Broken: multiplies grad_output in place; right values, corrupted caller's tensor."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad.mul_(x.cos())


class IgnoresSeedStrides(Function):
    """Broken: reads grad_output's memory as if it were contiguous."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return 3 * x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        contiguous_strides = torch.empty(grad.shape).stride()
        return 3 * torch.as_strided(grad, grad.shape, contiguous_strides, grad.storage_offset())
