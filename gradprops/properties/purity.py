"""Purity: forward and backward behave as a function of their arguments, and nothing else.

Every other property assumes this, which is why :func:`gradprops.check` runs it first. It checks:

- forward is deterministic: a second forward on the same inputs gives the same outputs, bit for bit
  (dropout, ``torch.rand``, a module in training mode, a counter kept between calls fail here);
- forward leaves its inputs untouched (a custom Function's forward runs with grad disabled, so an
  in-place write into an input passes silently); backward leaves its seed and inputs untouched;
- two backward passes of one graph (``retain_graph=True``) with one seed give identical grads, and
  the grads the first returned are not overwritten by the second (a reused buffer);
- two live graphs do not share state: after building a second graph on ``x2 = c·flip(x)``, the
  first graph's backward still gives what it gave before (state kept on the class, the module or
  a global instead of ``ctx`` fails here); ``flip`` and a positive ``c`` keep ``x2`` in most
  domains (positive, symmetric positive-definite, sorted-by-magnitude aside);
- ``.grad`` accumulates: ``backward(u)`` then ``backward(v)`` on leaves leaves VJP(u) + VJP(v) in
  ``.grad`` — run with real ``.backward()`` calls, as a training loop does.

The three checks of backward's own state are one exact comparison when nothing is wrong: with a
second graph alive, ``.grad`` after ``backward(v)``, ``backward(u)`` must be bit for bit
``VJP(u) + VJP(v)`` as taken before (adding two floats is exact to repeat). Only when it is not are
the checks repeated one at a time on a fresh graph, to say which one fails.

Cost per example: 3 forwards and 4 backwards (2 of them real ``.backward()`` calls, for ``.grad``);
inside :func:`gradprops.check` the first forward, and the VJPs of ``u`` and ``v``, are shared with
the other properties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from gradprops.autodiff import Graph, accumulated_grads, guarded_forward
from gradprops.compare import compare, compare_all, max_abs
from gradprops.errors import UsageError, findings_hidden
from gradprops.properties._common import (
    as_helper,
    beyond_noise,
    fail_on,
    findings_as_failures,
    make_case,
    seed_pair,
    tolerance_for,
)
from gradprops.signals import FunctionRaised, NotApplicable
from gradprops.strided import fresh_leaf, repeats
from gradprops.target import Inputs, Seed, Target
from gradprops.tolerances import Tolerance

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "purity"
_IDENTICAL = Tolerance(0.0, 0.0, "must be identical")


def check_purity(
    target: Target,
    seeds: tuple[Seed, Seed] | None = None,
    second_scale: float = 0.5,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target``; returns notes for the report, raises PropertyFailure.

    ``graph`` (one guarded forward of the target, shared with later properties) is the first graph
    when given: purity then runs first, so the VJP of ``u`` it remembers is the one they reuse.
    """
    if isinstance(second_scale, bool) or not isinstance(second_scale, (int, float)) or not second_scale > 0:
        raise UsageError(f"second_scale must be a positive number, got {second_scale!r}")
    graph = graph or Graph(target, guarded=True)
    if not graph.guarded:
        raise ValueError("purity needs a guarded graph: Graph(target, guarded=True)")  # our bug
    variables = graph.variables
    names = [x.name for x in target.variables]
    u: Sequence[Tensor] = ()
    v: Sequence[Tensor] = ()
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds={"u": u, "v": v},
        extras={"second graph built on": f"x2 = {second_scale!r} · flip(x) (every variable, all dims)"},
        helper_call=f"gradprops.assert_purity(fn, inputs, seeds=(u, v), second_scale={second_scale!r})",
    )
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
        u, v = seed_pair(seeds, outputs)
        if seeds is None:
            v = tuple(_repeating_along_dim_0(t) for t in v)
        returned = graph.vjp(u)
        first = _kept(returned)
        g_v = _kept(graph.vjp(v))  # kept: a backward that reuses its buffer overwrites what it returned
    fail_on(NAME, "the grads backward returned were overwritten by a later backward: it returns a buffer "
            "it reuses (a cache on the class, the module or a global), so grads the caller holds change",
            _identical(returned, first, names, "first grads, now", "first grads, when returned"), case)
    with findings_as_failures(NAME, case):
        again = tuple(o.detach() for o in guarded_forward(target, [fresh_leaf(x).detach().requires_grad_()
                                                                     for x in graph.originals]))
    fail_on(NAME, "the function under test is not deterministic: a second forward on the same inputs gave other "
            "outputs (torch.rand or dropout inside, an nn.Module in training mode, state kept between calls); "
            "draw random tensors outside and pass them in, or call module.eval()",
            [m for i, (a, o) in enumerate(zip(again, outputs))
             if (m := compare(a, o.detach(), name=f"output {i}", tolerance=_IDENTICAL, magnitude=0.0,
                              actual_label="second forward", expected_label="first forward")) is not None],
            case)
    with findings_as_failures(NAME, case):
        alive, not_built = _second_graph(target, variables, second_scale)
        # The graph's leaves have never had .grad: torch.autograd.grad (every VJP so far) leaves it alone.
        # v before u, the reverse of the VJPs above: a backward that alternates between two results
        # would otherwise add up to the same sum.
        accumulated = accumulated_grads(outputs, variables, [v, u])
    # One exact comparison covers three ways backward can depend on more than its seed and saved
    # tensors: with the same graph backpropagated again (a counter, random numbers), with a second
    # graph alive (state outside ctx), and when .grad accumulates. Only when it fails are they told
    # apart, step by step on a fresh graph, for a message that says which.
    expected = [a + b for a, b in zip(first, g_v)]
    if _identical(accumulated, expected, names, "", ""):
        _diagnose(target, u, v, second_scale, accumulated, expected, rtol, atol, case)
    del alive
    if not_built:
        raise NotApplicable(not_built)
    return []


def _second_graph(target: Target, variables: Sequence[Tensor], second_scale: float) -> tuple[Any, str]:
    """A second graph of the function, on ``x2 = second_scale · flip(x)`` (its outputs: hold them
    to keep it alive); or why not, when the function raises there."""
    x2 = [_second_point(x, second_scale) for x in variables]
    try:
        return guarded_forward(target, x2), ""
    except FunctionRaised as exc:
        return None, (f"the function raised on the second input x2 = {second_scale!r}·flip(x): "
                      f"{type(exc.original).__name__}: {exc.original}")


def _diagnose(
    target: Target, u: Sequence[Tensor], v: Sequence[Tensor], second_scale: float,
    accumulated: Sequence[Tensor], expected: Sequence[Tensor], rtol: float | None, atol: float | None,
    case: Callable[[], Any],
) -> None:
    """Say which of purity's checks fails, repeating them one at a time on a fresh graph."""
    names = [x.name for x in target.variables]
    with findings_as_failures(NAME, case):
        fresh = Graph(target, guarded=True)
        outputs, variables = fresh.outputs, fresh.variables
        first = _kept(fresh.vjp(u))
        second = _kept(fresh.vjp(u, remember=False))
    fail_on(NAME, "two backward passes of the same graph with the same seed (retain_graph=True) gave "
            "different grads: backward depends on more than its seed and saved tensors (a counter, random "
            "numbers, state it changes)", _identical(second, first, names, "second backward", "first backward"),
            case)
    with findings_as_failures(NAME, case):
        alive, not_built = _second_graph(target, variables, second_scale)
        after = _kept(fresh.vjp(u, remember=False))
    fail_on(NAME, "building a second graph of the function (on x2) before backward changed the first graph's "
            "grads: the function keeps per-call state outside ctx (on the class, the module or a global), "
            "and the second forward overwrote it",
            [] if not_built else _identical(after, first, names, "backward with a second graph alive",
                                            "backward of the graph alone"),
            case)
    del alive
    # Step by step, backward repeats itself and survives a second graph: what is left is .grad.
    with findings_as_failures(NAME, case):
        g_v = _kept(fresh.vjp(v))
        alone = accumulated_grads(outputs, variables, [v, u])
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    mismatches = beyond_noise(
        lambda m: compare_all(alone, [a + b for a, b in zip(first, g_v)], names, tolerance, m,
                              actual_label=".grad after backward(v), backward(u)", expected_label="VJP(u) + VJP(v)"),
        max_abs([*alone, *first, *g_v]), tolerance, [*u, *v], outputs, variables, names,
    )
    fail_on(NAME, "`.grad` does not accumulate: after y.backward(v, retain_graph=True) then y.backward(u), "
            ".grad is not VJP(u) + VJP(v)", mismatches, case, extra=lambda: _aliasing_hint(variables, names))
    # Nothing failed again on its own: backward's result depends on the history of its calls.
    fail_on(NAME, "with a second graph alive, .grad after backward(v), backward(u) is not bit for bit VJP(u) + "
            "VJP(v) taken before; repeated one check at a time on a fresh graph, it agreed. Backward depends "
            "on more than its seed and saved tensors (a call counter, a cache, random numbers)",
            _identical(accumulated, expected, names, ".grad after backward(v), backward(u)", "VJP(u) + VJP(v)"),
            case)


def assert_purity(
    fn: Callable[..., Any],
    inputs: Inputs,
    seeds: tuple[Seed, Seed] | None = None,
    second_scale: float = 0.5,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that forward and backward are pure, deterministic, share no state, and accumulate .grad.

    ``seeds`` is a pair ``(u, v)`` shaped like the output(s). When omitted, both are random and ``v``
    repeats along dim 0 with stride 0, the layout that exposes ``.grad`` aliasing (as :func:`gradprops.check`
    draws it among others). The second graph is built on ``second_scale · flip(x)``. See the module
    docstring for each check.

    >>> import torch
    >>> x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    >>> assert_purity(torch.nn.functional.softplus, (x,))
    """
    as_helper(NAME, Target(fn, inputs),
              lambda target: check_purity(target, seeds, second_scale, rtol=rtol, atol=atol),
              seed=seeds, seed_label="seeds u and v")


def _aliasing_hint(variables: Sequence[Tensor], names: Sequence[str]) -> str:
    """Say which variables' ``.grad`` share memory: then one backward adds into both."""
    owners: dict[int, list[str]] = {}
    for v, name in zip(variables, names):
        if v.grad is not None and v.grad.numel():
            owners.setdefault(v.grad.untyped_storage().data_ptr(), []).append(name)
    shared = [group for group in owners.values() if len(group) > 1]
    if not shared:
        return ""
    return (f"Hint: the .grad of {' and '.join(shared[0])} are one piece of memory, so each later backward adds "
            "into all of them. AccumulateGrad kept views of one seed as .grad (it does where backward hands "
            "back views of its seed, as torch.stack's and torch.cat's do, and the seed repeats along the "
            "joined dim: pytorch/pytorch#34082).")


def _repeating_along_dim_0(seed: Tensor) -> Tensor:
    """``seed``'s first row expanded along dim 0 (stride 0): the seed layout under which
    AccumulateGrad keeps views of one seed as several ``.grad`` (torch.stack's and torch.cat's backward)."""
    if seed.dim() == 0 or seed.shape[0] < 2:
        return seed
    return seed[:1].expand(seed.shape)


def _kept(grads: Sequence[Tensor]) -> tuple[Tensor, ...]:
    return tuple(g.detach().clone() for g in grads)


def _identical(actual: Sequence[Tensor], expected: Sequence[Tensor], names: Sequence[str],
               actual_label: str, expected_label: str) -> list[Any]:
    return compare_all(actual, expected, names, _IDENTICAL, magnitude=0.0,
                       actual_label=actual_label, expected_label=expected_label)


def _second_point(x: Tensor, scale: float) -> Tensor:
    leaf = fresh_leaf(x).detach()
    flipped = scale * x.detach().flip(list(range(x.dim())))
    if repeats(x):
        leaf = flipped.clone()
    else:
        leaf.copy_(flipped)
    return leaf.requires_grad_(x.requires_grad)
