"""Deliberately broken custom autograd Functions, one per class of backward bug, and correct twins.

Each :class:`Broken` entry says which properties may name it (the one that should, first) and how
to build the function, so the same suite drives the helper tests, the ``gradprops.check`` tests and
``benchmarks/vs_gradcheck.py``. Everything is deterministic; nothing here imports gradprops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

# --- correct Functions ---------------------------------------------------------------------------


class Sin(Function):
    """Correct, with a forward-mode ``jvp`` too."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * x.cos()

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return tangent * x.cos()


class Relu(Function):
    """Correct: a kink at 0, where backward picks the subgradient 0."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x > 0).to(grad.dtype)

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return tangent * (x > 0).to(tangent.dtype)


def _dsinc(x: Tensor) -> Tensor:
    """sinc'(x), with a Taylor branch near 0 so that it is right (and differentiable) there too."""
    near = x.abs() < 1e-2
    safe = torch.where(near, torch.ones_like(x), x)
    px = math.pi * safe
    far = (torch.cos(px) * px - torch.sin(px)) / (px * safe)
    y = math.pi * x
    taylor = math.pi * (-y / 3 + y**3 / 30 - y**5 / 840)
    return torch.where(near, taylor, far)


class Sinc(Function):
    """Correct: sin(πx)/(πx) with its removable singularity at 0 handled, to second order."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sinc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * _dsinc(x)


def _dsinc_where_trap(x: Tensor) -> Tensor:
    """_dsinc without the safe input: torch.where picks the Taylor branch at 0, but the other
    branch's 0/0 still reaches double backward (as 0 · NaN): the torch.where gradient trap."""
    near = x.abs() < 1e-2
    px = math.pi * x
    far = (torch.cos(px) * px - torch.sin(px)) / (px * x)
    y = math.pi * x
    taylor = math.pi * (-y / 3 + y**3 / 30 - y**5 / 840)
    return torch.where(near, taylor, far)


class SincWhereTrap(Function):
    """sinc with a right first-order backward whose double backward is NaN at 0."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sinc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * _dsinc_where_trap(x)


class SinCos(Function):
    """Correct, two outputs."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx: Any, g_sin: Tensor, g_cos: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() - g_cos * x.sin()


class MulAdd(Function):
    """Correct, two inputs: x * y + x."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, y)
        return x * y + x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, y = ctx.saved_tensors
        return grad * (y + 1), grad * x


# --- broken Functions ----------------------------------------------------------------------------


class WrongFormula(Function):
    """d sin = -cos: wrong formula, still linear in the seed."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return -grad * x.cos()


class WrongFormulaWithJvp(WrongFormula):
    """The same wrong backward next to a correct ``jvp``: forward and reverse mode disagree."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return tangent * x.cos()


class IgnoresSeed(Function):
    """Assumes the seed is all ones (right only for y.sum().backward())."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return x.cos()


class NonlinearInSeed(Function):
    """Uses |grad_output|."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad.abs() * x.cos()


class IgnoresSeedStrides(Function):
    """Reads grad_output's memory as if it were contiguous (a C++/Triton kernel's classic bug)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return 3 * x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        flat = grad.reshape(-1) if grad.is_contiguous() else _memory_order(grad)
        return 3 * flat.reshape(grad.shape)


def _memory_order(t: Tensor) -> Tensor:
    """``t``'s elements in the order they sit in memory (what a stride-blind kernel reads)."""
    order = sorted(range(t.dim()), key=lambda d: -t.stride(d))
    return t.permute(order).reshape(-1)


def _wrong_when(condition: Callable[[Tensor], bool], doc: str) -> type[Function]:
    class WrongWhen(Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor) -> Tensor:
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx: Any, grad: Tensor) -> Tensor:
            (x,) = ctx.saved_tensors
            right = grad * x.cos()
            return -right if condition(x) else right

    WrongWhen.__doc__ = doc
    return WrongWhen


WrongOn0d = _wrong_when(lambda x: x.dim() == 0, "Right except on 0-d inputs (a scalar fast path).")
WrongOn0d.__name__ = WrongOn0d.__qualname__ = "WrongOn0d"
WrongOnOddSize = _wrong_when(lambda x: x.numel() % 2 == 1, "Right except when the size is odd (a vectorised tail).")
WrongOnOddSize.__name__ = WrongOnOddSize.__qualname__ = "WrongOnOddSize"
WrongOver64 = _wrong_when(lambda x: x.numel() > 64, "Right except on inputs of more than 64 elements (a blocked path).")
WrongOver64.__name__ = WrongOver64.__qualname__ = "WrongOver64"
WrongOnNonContiguous = _wrong_when(lambda x: not x.is_contiguous(),
                                   "Right except on non-contiguous inputs (a strided path).")
WrongOnNonContiguous.__name__ = WrongOnNonContiguous.__qualname__ = "WrongOnNonContiguous"


class WritesIntoSeed(Function):
    """Multiplies grad_output in place: right values, the caller's tensor corrupted."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad.mul_(x.cos())


class WritesIntoInput(Function):
    """Doubles its input in place (forward runs with grad off, so autograd does not object).

    Computes sin(2x) with the right derivative for it: only the caller's tensor is wrong.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x.mul_(2)
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x2,) = ctx.saved_tensors
        return 2 * grad * x2.cos()


class StaleCache(Function):
    """Caches cos(x) per input shape on the first call and reuses it for every later input."""

    cache: dict[tuple[Any, ...], Tensor] = {}  # noqa: RUF012 - the bug is exactly this shared dict

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        key = (tuple(x.shape), x.dtype)
        if key not in StaleCache.cache:
            StaleCache.cache[key] = x.detach().cos()
        ctx.cos = StaleCache.cache[key]
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad * ctx.cos


class StateOnClass(Function):
    """Keeps the input on the class instead of ctx: a second forward overwrites the first's."""

    saved: Tensor | None = None

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        StateOnClass.saved = x.detach()
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        assert StateOnClass.saved is not None
        return grad * StateOnClass.saved.cos()


class NaiveSinc(Function):
    """sinc with its derivative written as (cos(πx) - sinc(x)) / x: NaN at 0, where sinc is smooth."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sinc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (torch.cos(math.pi * x) - torch.sinc(x)) / x


class IgnoresSecondOutput(Function):
    """(sin x, cos x) whose backward forgets the second output's seed."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx: Any, g_sin: Tensor, g_cos: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g_sin * x.cos()


class _DoubledGrad(Function):
    """Identity whose backward doubles the grad (and whose jvp is right)."""

    @staticmethod
    def forward(ctx: Any, w: Tensor) -> Tensor:
        return w.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return 2 * grad

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:
        return tangent


class LinearWrongWeightGrad(torch.nn.Linear):
    """nn.Linear whose only wrong grad is its weight's: doubled inside forward."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, _DoubledGrad.apply(self.weight), self.bias)


def linear_wrong_weight_grad() -> LinearWrongWeightGrad:
    torch.manual_seed(0)
    return LinearWrongWeightGrad(3, 2).double()


NEEDLE_ERROR = 0.05


class OneWrongEntry(Function):
    """Elementwise sin whose backward is 5% off at one element, the last: a needle in the Jacobian.

    Has a correct ``jvp``. Fast-mode gradcheck projects the Jacobian on random unit vectors, so in
    an input of 1,000 elements the needle's weight in the projection is ~1e-3 of the whole.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        factor = torch.ones(x.numel(), dtype=x.dtype)
        if x.numel():
            factor[-1] = 1 + NEEDLE_ERROR
        return grad * x.cos() * factor.reshape(x.shape)

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return tangent * x.cos()


class _CosTimes(Function):
    """grad * cos(x), used inside Sin's backward; its own backward has a sign error."""

    @staticmethod
    def forward(ctx: Any, grad: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(grad, x)
        return grad * x.cos()

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Tensor, Tensor]:
        grad, x = ctx.saved_tensors
        return gg * x.cos(), gg * grad * x.sin()  # right: -gg * grad * x.sin()


class WrongDoubleBackward(Function):
    """sin with a right first-order backward whose own backward (second order) is wrong."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return _CosTimes.apply(grad, x)


class OnceDifferentiableSin(Function):
    """Correct, but double backward is refused (@once_differentiable): second order must skip."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * x.cos()


# --- the suite -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """One broken function and what should catch it."""

    name: str
    bug: str  # one line, for tables
    make: Callable[[], Callable[..., Any]]  # builds the function under test
    caught_by: tuple[str, ...]  # properties that may name it in gradprops.check; the first is expected
    signature: str = "()"  # gst.inputs signature for gradprops.check
    max_side: int = 6  # gst.inputs' largest dim size

    def inputs(self) -> Any:
        """The inputs strategy to check it with."""
        from gradprops import strategies as gst

        return gst.inputs(self.signature, max_side=self.max_side)

    def reset(self) -> None:
        """Forget state kept between calls (the stale cache), so runs do not depend on order."""
        StaleCache.cache.clear()
        StateOnClass.saved = None


# seed_linearity, ones_seed_matches_sum and vjp_matches_jacobian see any misuse of the seed.
_SEED_READERS = ("seed_linearity", "ones_seed_matches_sum", "vjp_matches_jacobian", "chain_rule")

BROKEN: tuple[Broken, ...] = (
    Broken("wrong formula", "d sin = -cos", lambda: WrongFormula.apply, ("finite_differences",)),
    Broken("wrong formula, right jvp", "d sin = -cos, jvp right", lambda: WrongFormulaWithJvp.apply,
           ("finite_differences", "forward_reverse_adjoint")),
    Broken("ignores the seed", "returns cos(x) for any seed", lambda: IgnoresSeed.apply, ("seed_linearity",)),
    Broken("nonlinear in the seed", "abs(grad_output) · cos(x)", lambda: NonlinearInSeed.apply, ("seed_linearity",)),
    Broken("ignores seed strides", "reads grad_output as contiguous", lambda: IgnoresSeedStrides.apply,
           (*_SEED_READERS, "purity")),
    Broken("wrong on 0-d", "-cos on 0-d inputs only", lambda: WrongOn0d.apply, ("finite_differences",)),
    Broken("wrong on odd sizes", "-cos when numel is odd", lambda: WrongOnOddSize.apply, ("finite_differences",)),
    Broken("wrong over 64 elements", "-cos when numel > 64", lambda: WrongOver64.apply, ("finite_differences",),
           max_side=12),
    Broken("wrong on non-contiguous", "-cos on non-contiguous inputs", lambda: WrongOnNonContiguous.apply,
           ("finite_differences",)),
    Broken("writes into its seed", "grad_output.mul_(cos x)", lambda: WritesIntoSeed.apply, ("purity",)),
    Broken("writes into its input", "x.mul_(2) in forward", lambda: WritesIntoInput.apply, ("purity",)),
    Broken("stale cache", "cos(x) cached per shape", lambda: StaleCache.apply, ("finite_differences",)),
    Broken("state on the class", "saves x on the class, not ctx", lambda: StateOnClass.apply, ("purity",)),
    # Near 0 (not at it) the same formula cancels catastrophically, which second order sees first.
    Broken("NaN at a smooth point", "sinc' as (cos πx - sinc x)/x", lambda: NaiveSinc.apply,
           ("finite_grads", "second_order")),
    Broken("ignores second output", "(sin, cos) forgets cos's seed", lambda: IgnoresSecondOutput.apply,
           ("finite_differences",)),
    Broken("module: wrong weight grad", "nn.Linear, weight grad doubled", linear_wrong_weight_grad,
           ("finite_differences", "forward_reverse_adjoint"), signature="(3)"),
    Broken("one wrong Jacobian entry", "last grad element 5% off", lambda: OneWrongEntry.apply,
           ("finite_differences", "forward_reverse_adjoint")),
    Broken("wrong double backward", "right 1st order, wrong 2nd", lambda: WrongDoubleBackward.apply,
           ("second_order",)),
    Broken("NaN double backward", "torch.where trap: 0/0 in the unused branch", lambda: SincWhereTrap.apply,
           ("second_order",)),
)

CORRECT: dict[str, Callable[..., Any]] = {
    "Sin.apply": Sin.apply,
    "Relu.apply (kink at 0)": Relu.apply,
    "Sinc.apply (removable singularity at 0)": Sinc.apply,
    "SinCos.apply (two outputs)": SinCos.apply,
    "OnceDifferentiableSin.apply": OnceDifferentiableSin.apply,
}
