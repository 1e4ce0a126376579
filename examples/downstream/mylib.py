"""mylib: custom autograd code as a gradprops user writes it — two Functions and a module.

``ScaledSoftplus`` carries a planted bug, commented out: its backward ignores ``grad_output``. That
is right for ``y.sum().backward()`` (a ones seed) and wrong in training, where the seed reaching a
layer is ∂loss/∂y. Swap the two ``return`` lines in its backward and run ``pytest`` to see which
properties catch it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd import Function


class ScaledSoftplus(Function):
    """softplus(beta·x) / beta, a smooth ReLU, with a hand-written backward."""

    @staticmethod
    def forward(ctx, x: Tensor, beta: float = 2.0) -> Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        return torch.nn.functional.softplus(beta * x) / beta

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.beta * x), None
        # return torch.sigmoid(ctx.beta * x), None  # planted bug: ignores grad (right only for sum())


class RowNormalize(Function):
    """Each row scaled to unit length: y = x / sqrt(Σ x² + eps) over the last dim."""

    @staticmethod
    def forward(ctx, x: Tensor, eps: float = 1e-6) -> Tensor:
        ctx.save_for_backward(x)
        ctx.eps = eps
        return x / (x.pow(2).sum(-1, keepdim=True) + eps).sqrt()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        norm = (x.pow(2).sum(-1, keepdim=True) + ctx.eps).sqrt()
        y = x / norm
        # (grad - y·⟨y, grad⟩) / norm, row by row: the projection is per row, not over the tensor.
        return (grad - y * (y * grad).sum(-1, keepdim=True)) / norm, None


def row_normalize(x: Tensor) -> Tensor:
    return RowNormalize.apply(x)


class Swish(Function):
    """x·sigmoid(x), saving only x."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * (s + x * s * (1 - s))


class SwishGate(nn.Module):
    """A gated layer: Swish(x W₁ᵀ + b₁) ⊙ (x W₂ᵀ + b₂). gradprops checks its parameters' grads too."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(features, hidden)
        self.value = nn.Linear(features, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return Swish.apply(self.gate(x)) * self.value(x)
