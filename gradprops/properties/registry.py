"""The properties :func:`gradprops.check` runs, each with what it draws and what it needs.

A property's ``run`` receives one :class:`Example` — the target bound to drawn inputs, the shapes
and dtypes of its differentiable outputs, and ``draw`` to pull further values (seeds, coefficients,
directions) from Hypothesis so that they shrink with the rest of the case. It returns notes for the
report, raises :class:`~gradprops.errors.PropertyFailure` on a finding, and raises
:class:`~gradprops.signals.NotApplicable` to skip the example with a reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from gradprops.autodiff import Graph
from gradprops.errors import UsageError
from gradprops.noise import random_seed_like
from gradprops.properties._common import all_zero
from gradprops.properties.adjoint import NAME as ADJOINT
from gradprops.properties.adjoint import check_forward_reverse_adjoint
from gradprops.properties.chain_rule import NAME as CHAIN_RULE
from gradprops.properties.chain_rule import Downstream, check_chain_rule
from gradprops.properties.compiled import BACKENDS, check_compiled_matches_eager
from gradprops.properties.compiled import NAME as COMPILED
from gradprops.properties.devices import NAME as DEVICES
from gradprops.properties.devices import check_devices
from gradprops.properties.finite_differences import NAME as FINITE_DIFFERENCES
from gradprops.properties.finite_differences import check_finite_differences
from gradprops.properties.finite_grads import NAME as FINITE_GRADS
from gradprops.properties.finite_grads import check_finite_grads
from gradprops.properties.jacobian import NAME as JACOBIAN
from gradprops.properties.jacobian import check_vjp_matches_jacobian
from gradprops.properties.linearity import NAME as LINEARITY
from gradprops.properties.linearity import check_seed_linearity
from gradprops.properties.low_precision import NAME as LOW_PRECISION
from gradprops.properties.low_precision import check_low_precision
from gradprops.properties.ones_sum import NAME as ONES_SUM
from gradprops.properties.ones_sum import check_ones_seed_matches_sum
from gradprops.properties.opcheck import NAME as OPCHECK
from gradprops.properties.opcheck import check_opcheck
from gradprops.properties.purity import NAME as PURITY
from gradprops.properties.purity import check_purity
from gradprops.properties.second_order import NAME as SECOND_ORDER
from gradprops.properties.second_order import check_second_order
from gradprops.properties.vmap import NAME as VMAP
from gradprops.properties.vmap import check_vmap
from gradprops.strategies.values import SEEDS
from gradprops.target import Target


@dataclass(frozen=True)
class Example:
    """One drawn case, as a property sees it."""

    target: Target
    graph: Graph  # one guarded forward, shared by every property of the example
    draw: Callable[[st.SearchStrategy[Any]], Any]
    rtol: float | None = None
    atol: float | None = None
    reference: Callable[..., Any] | None = None  # check(reference=): low_precision's float64 answer
    compile_backends: tuple[Any, ...] = BACKENDS  # check(compile_backends=): compiled_matches_eager's
    requested: frozenset[str] = frozenset()  # the properties the caller named
    drawn_function: bool = False  # fn is a strategy: each example has a function of its own
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """The differentiable outputs of the shared forward, detached: their shapes and dtypes."""
        if "outputs" not in self._shared:
            self._shared["outputs"] = tuple(o.detach() for o in self.graph.outputs)
        return self._shared["outputs"]

    def shared_seed(self) -> tuple[Tensor, ...]:
        """A signed random seed for the outputs, the same for every oracle property of this example.

        The oracles (finite differences, adjoint, purity, ...) compare backward against an
        independent reference, so a plain random seed is what they need; layouts and special
        seeds are the mission properties' job. Everything random they use comes from the one
        integer behind :meth:`shared_generator`: one choice per example for Hypothesis to shrink,
        which keeps examples from outgrowing Hypothesis' early size cap and shrinking fast.
        """
        if "seed" not in self._shared:
            self._shared["seed"] = random_seed_like(self.outputs, torch.Generator().manual_seed(self._shared_int()))
        return self._shared["seed"]

    def shared_generator(self, stream: int = 1) -> torch.Generator:
        """A fresh torch.Generator on the example's shared integer (``stream`` picks a separate one)."""
        return torch.Generator().manual_seed((self._shared_int() + 0x9E3779B97F4A7C15 * stream) % 2**63)

    def _shared_int(self) -> int:
        if "int" not in self._shared:
            self._shared["int"] = self.draw(SEEDS)
        return self._shared["int"]

    def drawn_seeds(self) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """Two seeds Hypothesis draws (signed noise, ones, zeros, basis vectors, odd layouts), once
        per example and shared by the mission properties: a seed draw is most of an example's
        generation time at small sizes."""
        from gradprops.strategies import seeds

        if "drawn" not in self._shared:
            self._shared["drawn"] = (self.draw(seeds(self.outputs)), self.draw(seeds(self.outputs)))
        return self._shared["drawn"]


@dataclass(frozen=True)
class Property:
    """A property of backward that :func:`gradprops.check` can run on every example."""

    name: str
    summary: str
    run: Callable[[Example], list[str]]
    needs: tuple[str, ...] = ()  # e.g. ("forward AD",), ("double backward",): listed in the report


# Round values first (what a failure shrinks to), then ones whose products with a seed round.
# One choice each: a float strategy with a filter cost three draws and half a millisecond an example.
_COEFFICIENTS = st.sampled_from([1.0, -1.0, 2.0, -0.5, 3.0, 0.1, -7.3, 0.7071067811865476, -1e-3, 1e3])


def _linearity(ex: Example) -> list[str]:
    u, v = ex.drawn_seeds()
    if all_zero([*u, *v]):  # both drawn all zero: the check would hold for any backward
        v = ex.shared_seed()
    a, b = ex.draw(_COEFFICIENTS), ex.draw(_COEFFICIENTS)
    return check_seed_linearity(ex.target, (u, v), (a, b), rtol=ex.rtol, atol=ex.atol, graph=ex.graph)


def _ones_sum(ex: Example) -> list[str]:
    return check_ones_seed_matches_sum(ex.target, rtol=ex.rtol, atol=ex.atol, graph=ex.graph)


JACOBIAN_ROWS_PER_EXAMPLE = 8
"""Jacobian rows :func:`gradprops.check` builds per example: all of them up to 8 output elements,
else 8 sampled at random. Each row is one backward pass, so the 256-row cap of the helper would
make this one property 256 times the cost of a forward and backward; over a check's hundred
examples, 8 rows each cover 800 — and shrinking ends on small outputs, where J is complete."""


def _jacobian(ex: Example) -> list[str]:
    # An all-zero seed would check only that backward(0) is 0 (linearity's matter), and its failure
    # could not be replayed: the helper refuses such a seed.
    seed = next((s for s in ex.drawn_seeds() if not all_zero(s)), None)
    if seed is None:  # (drawn only then: the shared seed is a draw of its own)
        seed = ex.shared_seed()
    return check_vjp_matches_jacobian(
        ex.target, seed, rtol=ex.rtol, atol=ex.atol, generator=ex.shared_generator(stream=4),
        row_cap=JACOBIAN_ROWS_PER_EXAMPLE, graph=ex.graph,
    )


def _purity(ex: Example) -> list[str]:
    # v is the mission properties' second seed: its VJP, taken here, is the one seed linearity reuses.
    seeds = (ex.shared_seed(), ex.drawn_seeds()[1])
    return check_purity(ex.target, seeds, 0.5, rtol=ex.rtol, atol=ex.atol, graph=ex.graph)


def _finite_grads(ex: Example) -> list[str]:
    return check_finite_grads(ex.target, ex.shared_seed(), generator=ex.shared_generator(), graph=ex.graph)


def _finite_differences(ex: Example) -> list[str]:
    return check_finite_differences(ex.target, ex.shared_seed(), rtol=ex.rtol, atol=ex.atol,
                                    generator=ex.shared_generator(), graph=ex.graph)


def _adjoint(ex: Example) -> list[str]:
    return check_forward_reverse_adjoint(ex.target, ex.shared_seed(), rtol=ex.rtol, atol=ex.atol,
                                         generator=ex.shared_generator(), graph=ex.graph)


def _low_precision(ex: Example) -> list[str]:
    return check_low_precision(ex.target, ex.shared_seed(), reference=ex.reference,
                               generator=ex.shared_generator(stream=5), graph=ex.graph)


def _vmap(ex: Example) -> list[str]:
    return check_vmap(ex.target, ex.shared_seed(), rtol=ex.rtol, atol=ex.atol, generator=ex.shared_generator(stream=6),
                      graph=ex.graph, required=VMAP in ex.requested)


def _opcheck(ex: Example) -> list[str]:
    # A fixed function: looked for everywhere, once (a function without custom ops is then skipped for
    # the rest of the check). A drawn one (a catalogue op, generated programs) is recorded on every
    # example, so there only a graph with a custom Function is looked into.
    return check_opcheck(ex.target, graph=ex.graph, look_everywhere=not ex.drawn_function)


def _compiled(ex: Example) -> list[str]:
    return check_compiled_matches_eager(ex.target, ex.shared_seed(), backends=ex.compile_backends, rtol=ex.rtol,
                                        atol=ex.atol, generator=ex.shared_generator(stream=7), graph=ex.graph)


def _devices(ex: Example) -> list[str]:
    return check_devices(ex.target, ex.shared_seed(), rtol=ex.rtol, atol=ex.atol, graph=ex.graph)


def _chain_rule(ex: Example) -> list[str]:
    h = Downstream.random(ex.shared_generator(stream=3))
    return check_chain_rule(ex.target, h, rtol=ex.rtol, atol=ex.atol, graph=ex.graph)


def _second_order(ex: Example) -> list[str]:
    return check_second_order(ex.target, ex.shared_seed(), rtol=ex.rtol, atol=ex.atol,
                              generator=ex.shared_generator())


# Purity runs first: every other property assumes a pure function, and a forward that writes into
# its input or state shared between graphs makes them fail with misleading messages.
PROPERTIES: tuple[Property, ...] = (
    Property(PURITY, "forward/backward write into nothing, are deterministic, share no state; .grad adds up",
             _purity),
    Property(LINEARITY, "VJP(a·u + b·v) = a·VJP(u) + b·VJP(v)", _linearity),
    Property(ONES_SUM, "backward(ones_like(y)) = grads of y.sum()", _ones_sum),
    Property(JACOBIAN, "backward(v) = vᵀJ, J from torch.autograd.functional.jacobian", _jacobian,
             needs=("real dtypes",)),
    Property(FINITE_GRADS, "no NaN/inf grad where the function is finite and smooth", _finite_grads,
             needs=("float64",)),
    Property(FINITE_DIFFERENCES, "⟨v, J·d⟩ by central differences (float64) = ⟨backward(v), d⟩",
             _finite_differences, needs=("float64",)),
    Property(LOW_PRECISION, "float16/bfloat16/float32 outputs and grads = float64's, within that dtype's rounding; "
             "a float64 path loses nothing in narrower steps", _low_precision, needs=("real dtypes",)),
    Property(ADJOINT, "⟨v, JVP(d)⟩ by forward-mode AD = ⟨backward(v), d⟩", _adjoint,
             needs=("forward AD",)),
    Property(VMAP, "torch.func.vmap of f and of its VJP = f and its VJP on each sample; torch.func.vjp and "
             ".jvp = torch.autograd's", _vmap, needs=("a custom autograd.Function with a batching rule",)),
    Property(OPCHECK, "every torch.library custom op called passes torch.library.opcheck on this example's "
             "arguments (schema, autograd registration, fake kernel, AOT dispatch)", _opcheck,
             needs=("a torch.library custom op",)),
    Property(CHAIN_RULE, "h(f(x)).backward() = VJP(∂h/∂y) for random downstream h", _chain_rule),
    Property(SECOND_ORDER, "double backward: linear in its seed, = finite differences of the VJP",
             _second_order, needs=("double backward", "float64")),
    # Last: it draws nothing of its own, so adding it left every other property's draws as they were.
    Property(DEVICES, "outputs and grads on every other available device (cuda, mps, xpu) = the inputs' "
             "device's, within rounding", _devices, needs=("a second device",)),
)

#: Properties that run only when named (``properties=[..., "compiled_matches_eager"]``): each costs
#: more than the default set together (torch.compile: seconds per shape class).
OPT_IN: tuple[Property, ...] = (
    Property(COMPILED, "torch.compile(f) with each backend (aot_eager, inductor) gives f's outputs and grads",
             _compiled, needs=("torch.compile",)),
)

#: Every name ``properties=`` takes, the opt-in ones included, in registry order.
NAMES: tuple[str, ...] = tuple(p.name for p in (*PROPERTIES, *OPT_IN))


def named(properties: Sequence[str] | str | None) -> frozenset[str]:
    """The properties a ``properties=`` argument names (not the default set, not ``-name`` exclusions).

    >>> sorted(named("vmap,opcheck")), named("-second_order"), named(None)
    (['opcheck', 'vmap'], frozenset(), frozenset())
    """
    if properties is None:
        return frozenset()
    names = [n.strip() for n in properties.split(",")] if isinstance(properties, str) else list(properties)
    return frozenset(n for n in names if n and not n.startswith("-"))


def select(names: Sequence[str] | None) -> tuple[Property, ...]:
    """The properties to run: the default set (:data:`PROPERTIES`), exactly those named (opt-in ones
    included, :data:`OPT_IN`), or the default set but those named with a leading ``-``
    (``"-second_order,-forward_reverse_adjoint"``), in registry order.

    >>> [p.name for p in select("-second_order")] == [p.name for p in PROPERTIES if p.name != "second_order"]
    True
    """
    if names is None:
        return PROPERTIES
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = NAMES
    dropped = [n[1:] for n in names if n.startswith("-")]
    if dropped and len(dropped) != len(names):
        raise UsageError(f"properties {list(names)} mixes names with '-name' exclusions: either name the "
                         "properties to run, or only the ones to leave out (e.g. '-second_order')")
    unknown = [n for n in (dropped or names) if n not in known]
    if unknown or not names:
        close = [m for n in unknown for m in difflib.get_close_matches(n, known, n=1, cutoff=0.7)]
        hint = f"; did you mean {', '.join(map(repr, dict.fromkeys(close)))}?" if close else ""
        raise UsageError(
            f"unknown properties {unknown}: choose from {', '.join(known)}{hint}" if unknown
            else f"properties is empty: name at least one of {', '.join(known)}, or pass None for all"
        )
    if dropped:
        kept = tuple(p for p in PROPERTIES if p.name not in dropped)
        if not kept:
            raise UsageError(f"properties {list(names)} leaves out every property: keep at least one")
        return kept
    return tuple(p for p in (*PROPERTIES, *OPT_IN) if p.name in names)
