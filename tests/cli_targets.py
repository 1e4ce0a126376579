"""Functions for tests/test_cli.py to point ``gradprops check`` at."""

from __future__ import annotations

import torch


def correct(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A correct function of a matmul pair."""
    return torch.tanh(a @ b)


class _IgnoresSeed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return x.cos()  # ignores grad: only right for a seed of ones


broken = _IgnoresSeed.apply

NOT_CALLABLE = 3


def returns_int(x: torch.Tensor) -> int:
    """Not something gradprops can check: it returns no tensor."""
    return 3
