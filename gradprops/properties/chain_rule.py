"""Chain rule: ``h(f(x)).backward()`` equals f's VJP seeded with h's gradient at f(x).

In training the seed that reaches a layer is ∂loss/∂y, computed by autograd from whatever follows
the layer — never a fresh tensor of ones. This property puts a random downstream function ``h``
after ``f`` (elementwise nonlinearities, slices, transposes, expands, weighted or plain sums) and
checks that backpropagating the scalar ``h(f(x))`` through f gives what f's VJP gives for the seed
``∂h/∂y`` handed to it as a fresh contiguous tensor. The seeds autograd builds this way are
transposed, zero-padded, expanded (stride 0, along one dim or all) and scaled by 1/N — exactly where a backward that
reads its seed carelessly goes wrong.

Cost per example: 1 forward and 2 backwards through f (plus h's own forward and backward).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.autodiff import Graph, loss_grads
from gradprops.compare import compare_all, max_abs
from gradprops.describe import describe_tensor
from gradprops.errors import UsageError, findings_hidden
from gradprops.noise import signed_noise
from gradprops.properties._common import (
    as_helper,
    beyond_noise,
    fail_on,
    findings_as_failures,
    make_case,
    tolerance_for,
)
from gradprops.signals import call_user
from gradprops.target import Inputs, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "chain_rule"


def _when(ok: Callable[[Tensor], bool], op: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return lambda y: op(y) if ok(y) else y


# name -> (how it reads, applied to the text of its argument; what it does, identity where it cannot)
STEPS: dict[str, tuple[str, Callable[[Tensor], Tensor]]] = {
    "tanh": ("tanh({})", torch.tanh),
    "sin": ("sin({})", torch.sin),
    "square": ("({})**2", lambda y: y * y),
    "scale": ("-2.5 * {}", lambda y: -2.5 * y),
    "transpose": ("{}.transpose(0, -1)", _when(lambda y: y.dim() >= 2, lambda y: y.transpose(0, -1))),
    "every_other": ("{}[..., ::2]", _when(lambda y: y.dim() >= 1, lambda y: y[..., ::2])),
    "flip": ("{}.flip(0)", _when(lambda y: y.dim() >= 1, lambda y: y.flip(0))),
    "expand": ("{}.expand(2, *shape)", lambda y: y.unsqueeze(0).expand(2, *y.shape)),
    "softmax": ("softmax({}, -1)", _when(lambda y: y.dim() >= 1 and not y.is_complex(),
                                          lambda y: torch.softmax(y, -1))),
}

REDUCTIONS: dict[str, str] = {
    "weighted_sum": "(w * {}).sum()",
    "sum": "{}.sum()",
    "mean": "{}.mean()",
    "weighted_column_sums": "(w * {}.sum(0)).sum()",
    "squared_norm": "{}.abs().pow(2).sum()",
}
_WEIGHTED = ("weighted_sum", "weighted_column_sums")


@dataclass(frozen=True)
class Downstream:
    """A downstream function h: the outputs of f -> a real scalar loss, as in a training step.

    Each output ``y`` goes through ``steps`` in order, then ``reduce``; the losses of several
    outputs are added. Weights ``w`` are :func:`gradprops.noise.signed_noise` (uniform in [-1, 1))
    from a generator seeded ``weight_seed`` plus the output's index, shaped like what they
    multiply. The repr is Python that rebuilds h.

    >>> h = Downstream(steps=("tanh", "transpose"), reduce="sum")
    >>> h.formula()
    'h(y) = tanh(y).transpose(0, -1).sum()'
    >>> float(h((torch.zeros(2, 3),)))
    0.0
    """

    steps: tuple[str, ...] = ()
    reduce: str = "weighted_sum"
    weight_seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.steps if s not in STEPS]
        if unknown or self.reduce not in REDUCTIONS:
            raise UsageError(
                f"unknown downstream steps {unknown} or reduction {self.reduce!r}: steps are "
                f"{', '.join(STEPS)}; reductions are {', '.join(REDUCTIONS)}"
            )

    @classmethod
    def random(cls, generator: torch.Generator, max_steps: int = 3) -> Downstream:
        """A random h from a torch.Generator (what :func:`gradprops.check` uses: no extra draws).

        >>> Downstream.random(torch.Generator().manual_seed(0)).reduce in REDUCTIONS
        True
        """
        def pick(n: int) -> int:
            return int(torch.randint(n, (1,), generator=generator))

        # Steps that hand backward a non-contiguous seed are drawn more often: they find the most.
        steps_pool = [*STEPS, "transpose", "transpose"]
        reductions_pool = [*REDUCTIONS, "weighted_column_sums"]
        steps = tuple(steps_pool[pick(len(steps_pool))] for _ in range(pick(max_steps + 1)))
        return cls(steps, reductions_pool[pick(len(reductions_pool))], pick(2**16))

    def __call__(self, outputs: Sequence[Tensor]) -> Tensor:
        total: Tensor | None = None
        for k, y in enumerate(outputs):
            for step in self.steps:
                y = STEPS[step][1](y)
            loss = self._reduce(y, k)
            total = loss if total is None else total + loss.to(total.dtype)
        assert total is not None
        return total

    def _reduce(self, y: Tensor, k: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.weight_seed + k)
        real = y.real.dtype if y.is_complex() else y.dtype
        if self.reduce == "weighted_sum":
            out = (signed_noise(y.shape, real, gen).to(y.device) * y).sum()
        elif self.reduce == "weighted_column_sums":  # ∂h/∂y is w expanded along dim 0 (stride 0)
            sums = y.sum(0)
            out = (signed_noise(sums.shape, real, gen).to(y.device) * sums).sum()
        elif self.reduce == "sum":
            out = y.sum()
        elif self.reduce == "mean":
            out = y.mean() if y.numel() else y.sum()
        else:
            out = y.abs().pow(2).sum()
        return out.real if out.is_complex() else out

    def formula(self) -> str:
        text = "y"
        for step in self.steps:
            text = STEPS[step][0].format(text)
        text = REDUCTIONS[self.reduce].format(text)
        if self.reduce in _WEIGHTED:
            text += f", w = gradprops.noise.signed_noise(shape, dtype, generator seeded {self.weight_seed})"
        return f"h(y) = {text}"


def downstream_functions(max_steps: int = 3) -> st.SearchStrategy[Downstream]:
    """Random downstream functions h; they shrink towards ``h(y) = (w * y).sum()``.

    >>> from hypothesis import find
    >>> find(downstream_functions(), lambda h: True)  # the simplest one
    Downstream(steps=(), reduce='weighted_sum', weight_seed=0)
    """
    return st.builds(
        Downstream,
        steps=st.lists(st.sampled_from(list(STEPS)), max_size=max_steps).map(tuple),
        reduce=st.sampled_from(list(REDUCTIONS)),
        weight_seed=st.integers(0, 2**16),
    )


def check_chain_rule(
    target: Target,
    h: Callable[[Sequence[Tensor]], Tensor] | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target`` (on ``graph`` when given); returns notes, raises PropertyFailure."""
    h = Downstream(steps=("tanh",)) if h is None else h
    if not callable(h):
        raise UsageError(f"h must be a callable taking the outputs (a tuple) to a scalar, got {type(h).__name__}")
    graph = graph or Graph(target)
    variables = graph.variables
    names = [x.name for x in target.variables]
    seed: list[Tensor] = []
    shown = h.formula() if isinstance(h, Downstream) else repr(h)
    call = f"h=gradprops.properties.chain_rule.{h!r}" if isinstance(h, Downstream) else "h=h  # the h above"
    case = lambda: make_case(  # noqa: E731
        target, variables,
        extras={"downstream h": shown, **{
            f"∂h/∂y{'' if len(seed) == 1 else f' (output {i})'}, the seed autograd hands backward":
            describe_tensor(s) for i, s in enumerate(seed)
        }},
        helper_call=f"gradprops.assert_chain_rule(fn, inputs, {call})",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        seed, through_f, expected = _both_ways(graph, h, names)
    tolerance = tolerance_for(variables, outputs, rtol, atol)

    def compared_at(values: Sequence[Tensor]) -> list[Tensor]:
        _, through_f, expected = _both_ways(Graph(target, at=values), h, names)
        return [*through_f, *expected]

    mismatches = beyond_noise(
        lambda m: compare_all(through_f, expected, names, tolerance, m, actual_label="h(f(x)).backward()",
                              expected_label="VJP(∂h/∂y as a contiguous tensor)"),
        max_abs([*through_f, *expected]), tolerance, seed, outputs, variables, names,
        compared_at=compared_at, compared=[*through_f, *expected],
    )
    fail_on(NAME, "backpropagating a downstream loss h(f(x)) through f does not give f's VJP seeded with "
            "∂h/∂y: backward mishandles the seed autograd builds (its layout, its values)", mismatches, case,
            extra=lambda: _hint(seed))
    return []


def assert_chain_rule(
    fn: Callable[..., Any],
    inputs: Inputs,
    h: Callable[[Sequence[Tensor]], Tensor] | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ``h(fn(*inputs)).backward()`` equals fn's VJP seeded with ∂h/∂y.

    ``h`` takes the tuple of fn's differentiable outputs to a real scalar (a loss); a
    :class:`Downstream` (default: ``tanh`` then a weighted sum) or any callable.

    >>> x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    >>> assert_chain_rule(torch.exp, (x,), Downstream(steps=("transpose", "every_other"), reduce="mean"))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_chain_rule(target, h, rtol=rtol, atol=atol))


def _both_ways(
    graph: Graph, h: Callable[[Sequence[Tensor]], Tensor], names: Sequence[str]
) -> tuple[list[Tensor], tuple[Tensor, ...], tuple[Tensor, ...]]:
    """``(∂h/∂y, h(f(x))'s grads, f's VJP of ∂h/∂y as a fresh contiguous tensor)`` on ``graph``."""
    outputs = graph.outputs
    loss = call_user("downstream h", lambda: h(outputs))
    if not isinstance(loss, Tensor) or loss.numel() != 1 or loss.is_complex():
        raise UsageError("h must return a real scalar tensor (a loss), e.g. lambda ys: (w * ys[0]).sum()")
    # One backward from the loss gives both ∂h/∂y (at the outputs) and h(f(x))'s grads.
    both = loss_grads(loss.reshape(()), [*outputs, *graph.variables],
                      names=[*(f"output {i}" for i in range(len(outputs))), *names])
    seed = list(both[: len(outputs)])
    return seed, both[len(outputs):], graph.vjp(tuple(s.contiguous() for s in seed))


def _hint(seed: Sequence[Tensor]) -> str:
    odd = [s for s in seed if not s.is_contiguous() or s.storage_offset()]
    if odd:
        return ("Hint: the seed autograd handed backward is not contiguous (see its strides above); a "
                "backward that reads grad_output's memory as if it were contiguous gets it wrong.")
    return ""
