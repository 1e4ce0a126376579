"""vmap: ``torch.func.vmap`` of the function, and of its VJP, equal the function and its VJP per sample.

Under ``torch.func.vmap`` a custom ``torch.autograd.Function`` runs its batching rule — its ``vmap``
staticmethod, or the rule ``generate_vmap_rule = True`` builds from forward — not the forward every
other property calls, so a wrong rule (an output off by a factor, samples mixed along the batch
dim) passes them all. This property batches two samples: the drawn inputs, and the same values
permuted within each tensor (the same domain, other values; a copy where the function cannot take
them). It compares, sample by sample:

- ``vmap(f)`` with ``f`` on each sample: the forward's batching rule;
- ``vmap`` of ``torch.func.vjp``'s pullback over inputs and seeds with ``torch.autograd``'s VJP on
  each sample: backward run on batched tensors;
- ``torch.func.vjp`` with ``torch.autograd``'s VJP on the drawn sample, and, where every custom
  Function has a ``jvp``, ``torch.func.jvp`` with forward-mode AD's (dual tensors) along a random
  direction: the two front ends of each mode. ``torch.func.grad`` is ``vjp`` seeded with 1, and
  ``jacrev`` is ``vmap`` of ``vjp``: both are the paths compared here.

It applies where the graph holds a custom Function: elsewhere vmap runs only torch's own batching
rules, which are not under test. An old-style Function (``forward(ctx, ...)``) cannot run under
``torch.func`` at all, and one without a batching rule cannot run under vmap: both are notes, found
once per check, never failures. Cost per example: 2 forwards and 2 backwards of one sample (the
drawn sample's forward, and its VJP for the shared seed, are the example's own), 2 forwards and
a backward of the batch of two, and 2 forward-mode passes where the Functions have a ``jvp``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, func_jvp, func_vjp, jvp, vmapped_outputs, vmapped_vjp
from gradprops.compare import Mismatch, compare_all, max_abs
from gradprops.describe import describe_tensor
from gradprops.errors import PropertyFailure, findings_hidden
from gradprops.noise import random_seed_like
from gradprops.properties._common import (
    as_helper,
    beyond_noise,
    fail_on,
    findings_as_failures,
    make_case,
    seed_or_random,
    tolerance_for,
)
from gradprops.signals import FunctionRaised, Unsupported
from gradprops.target import Inputs, Seed, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "vmap"

#: Where torch's own autograd Functions live: AOTAutograd's CompiledFunction (a compiled graph) and a
#: torch.library custom op's generated Function (vmap reaches the op itself, not it: opcheck's business).
_TORCH_INTERNAL_FUNCTIONS = ("torch._functorch", "torch._dynamo", "torch._inductor", "torch._library")


def check_vmap(
    target: Target, seed: Seed | None = None, *, rtol: float | None = None, atol: float | None = None,
    generator: torch.Generator | None = None, graph: Graph | None = None, required: bool = False,
) -> list[str]:
    """Run the property on ``target`` with seed ``seed`` for the drawn sample (random when None);
    returns notes, raises PropertyFailure, or :class:`~gradprops.signals.Unsupported` where it
    cannot apply. ``required`` (vmap asked for by name, or its helper): a custom Function that
    cannot run under vmap is a failure, not a note."""
    graph = graph or Graph(target)
    generator = generator or torch.Generator().manual_seed(0)
    variables = graph.variables
    names = [x.name for x in target.variables]
    seeds: dict[str, Sequence[Tensor]] = {}
    extras: dict[str, object] = {
        "batch": "sample 0 = the inputs with seed v; sample 1 = their values permuted within each tensor, with a "
                 "random seed (the helper below draws its own permutation and seed)"}
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds=seeds, extras=extras,
        helper_call=f"gradprops.assert_vmap(fn, inputs{', seed=v' if 'v' in seeds else ''})")
    with findings_as_failures(NAME, case):
        outputs = graph.outputs
    try:
        functions = _batchable_functions(graph.custom_functions)
    except Unbatchable as exc:
        if required:
            raise PropertyFailure(NAME, f"vmap was asked for, and {exc}", case()) from exc
        raise
    seed = seed_or_random(seed, outputs, generator)
    seeds["v"] = seed
    seed1 = random_seed_like(outputs, generator)
    with findings_as_failures(NAME, case):
        values1, other, note = _second_sample(target, graph, generator)
        per_sample_outputs = ([o.detach() for o in outputs], [o.detach() for o in other.outputs])
        per_sample_vjp = (graph.vjp(seed), other.vjp(seed1))
        batched = [torch.stack([a.detach(), b]) for a, b in zip(variables, values1)]
        batched_outputs = vmapped_outputs(target, batched)
        batched_vjp = vmapped_vjp(target, batched, [torch.stack([a, b]) for a, b in zip(seed, seed1)])
        front_end = func_vjp(target, variables, seed)
        direction = random_seed_like(variables, generator)
        without_jvp = [f.__name__ for f in functions if f.jvp is torch.autograd.Function.jvp]
        tangents = None if without_jvp else (func_jvp(target, variables, direction), jvp(target, variables, direction))
    rule = ", ".join(f.__name__ for f in functions)
    tolerance = tolerance_for(variables, outputs, rtol, atol)

    def mismatches(got: Sequence[Sequence[Tensor]], want: Sequence[Sequence[Tensor]], labels: Sequence[str],
                   got_label: str, want_label: str) -> list[Mismatch]:
        flat_got = [t for sample in got for t in sample]
        flat_want = [t for sample in want for t in sample]
        flat_names = [f"{label}, sample {b}" if len(got) > 1 else label for b in range(len(got)) for label in labels]
        return beyond_noise(
            lambda m: compare_all(flat_got, flat_want, flat_names, tolerance, m, actual_label=got_label,
                                  expected_label=want_label, label_prefix=""),
            max_abs([*flat_got, *flat_want]), tolerance, seed, outputs, variables, names)

    output_labels = [f"output {k}" for k in range(len(outputs))]
    grad_labels = [f"grad of {n}" for n in names]
    fail_on(NAME, f"torch.func.vmap(f) over a batch of 2 does not equal f on each sample: the batching rule of "
                  f"{rule} (its vmap staticmethod, or the one generate_vmap_rule builds from forward) is wrong",
            mismatches([[o[b] for o in batched_outputs] for b in (0, 1)], per_sample_outputs, output_labels,
                       "vmap(f)", "f(sample)"), case, extra=note)
    fail_on(NAME, "the VJP under torch.func.vmap does not equal backward(v) on each sample: backward computes "
                  "something else on batched tensors (an in-place write into a batched tensor, a size or an "
                  ".item() read from the batch dim)",
            mismatches([[g[b] for g in batched_vjp] for b in (0, 1)], per_sample_vjp, grad_labels,
                       "vmap of torch.func.vjp", "backward(v) per sample"), case, extra=note)
    fail_on(NAME, "torch.func.vjp does not equal torch.autograd's backward(v) on the same inputs and seed",
            mismatches([front_end], [per_sample_vjp[0]], grad_labels, "torch.func.vjp", "backward(v)"), case)
    if tangents is not None:
        extras["jvp direction"] = "; ".join(describe_tensor(d) for d in direction) + \
            " (the helper below draws its own)"
        fail_on(NAME, "torch.func.jvp does not equal forward-mode AD (dual tensors) along the same direction d",
                mismatches([tangents[0]], [tangents[1]], [f"tangent of {label}" for label in output_labels],
                           "torch.func.jvp", "forward-mode AD"), case)
    # Without a jvp nothing forward-mode runs at all: forward_reverse_adjoint reports that, once per check.
    return [note] if note else []


class Unbatchable(Unsupported):
    """A custom Function in the graph cannot run under vmap (no batching rule, old style)."""


def _batchable_functions(functions: list[type[torch.autograd.Function]]) -> list[type[torch.autograd.Function]]:
    """The graph's custom Functions, each able to run under vmap; Unsupported otherwise."""
    functions = [f for f in functions if not f.__module__.startswith(_TORCH_INTERNAL_FUNCTIONS)]
    if not functions:
        raise Unsupported("no custom torch.autograd.Function in the graph: under vmap only torch's own batching "
                          "rules would run, and they are not under test")
    base = torch.autograd.Function
    for cls in functions:
        if cls.setup_context is base.setup_context:
            raise Unbatchable(
                f"{cls.__name__} is an old-style autograd.Function (forward(ctx, ...)): torch.func transforms "
                "(vmap, grad, vjp) cannot run it; to check it under vmap, give it forward(*args) without ctx "
                "and a setup_context(ctx, inputs, output)")
        if not getattr(cls, "generate_vmap_rule", False) and cls.vmap is base.vmap:
            raise Unbatchable(
                f"{cls.__name__} has no batching rule, so torch.func.vmap raises on it: set "
                "generate_vmap_rule = True (forward must then be pure torch ops) or write a vmap staticmethod")
    return functions


def _second_sample(target: Target, graph: Graph, generator: torch.Generator) -> tuple[list[Tensor], Graph, str]:
    """Sample 1 and its graph: the variables' values permuted within each tensor (same domain,
    other values), or copies of them, on ``graph`` itself, where the function raises there, returns
    other shapes or non-finite values (with a note saying so)."""
    permuted = []
    for v in graph.variables:
        flat = v.detach().reshape(-1)
        permuted.append(flat[torch.randperm(flat.numel(), generator=generator)].reshape(v.shape))
    other = Graph(target, at=permuted)
    try:
        there = other.outputs
    except FunctionRaised:
        there = None
    if there is not None and all(a.shape == b.shape and bool(b.isfinite().all() or not a.isfinite().all())
                                 for a, b in zip(graph.outputs, there)):
        return permuted, other, ""
    copies = [v.detach().clone() for v in graph.variables]
    return copies, graph, ("vmap: sample 1 is a copy of sample 0 (with the inputs' values permuted the function "
                           "raised, or gave other shapes or non-finite outputs): a rule that mixes samples is not "
                           "seen here")


def assert_vmap(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ``torch.func.vmap`` of ``fn`` and of its VJP equal ``fn`` and its VJP on each
    sample, for a custom ``torch.autograd.Function`` with a batching rule (see the module).

    >>> class Sin(torch.autograd.Function):
    ...     generate_vmap_rule = True
    ...     @staticmethod
    ...     def forward(x): return x.sin()
    ...     @staticmethod
    ...     def setup_context(ctx, inputs, output): ctx.save_for_backward(inputs[0])
    ...     @staticmethod
    ...     def backward(ctx, g): return g * ctx.saved_tensors[0].cos()
    >>> assert_vmap(Sin.apply, (torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True),))
    """
    as_helper(NAME, Target(fn, inputs), lambda target: check_vmap(target, seed, rtol=rtol, atol=atol, required=True))
