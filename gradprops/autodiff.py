"""The few autograd primitives every property needs; the one module that calls torch.autograd.

Every call into the user's backward goes through :func:`vjp` (or :func:`double_vjp`,
:func:`accumulated_grads`), which also checks that backward left its seed and the variables alone:
writing into ``grad_output`` corrupts grads wherever autograd shares that tensor, and no numeric
property sees it. :func:`guarded_forward` does the same for forward.

Independent oracles live here too: :func:`jvp` (forward-mode AD) and :func:`evaluate_along`
(the function evaluated at shifted points, for finite differences), plus :func:`float64_target`,
the same function on float64 copies of its inputs and parameters.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor
from torch.utils import _pytree as pytree

from gradprops.compare import all_finite, compare, same_values
from gradprops.errors import UsageError
from gradprops.noise import random_seed_like
from gradprops.precision import Narrowing
from gradprops.signals import FunctionRaised, Mutated, Unavailable, call_user
from gradprops.strided import fresh_leaf, repeats, wide_dtype
from gradprops.target import Target, is_differentiable
from gradprops.tolerances import Tolerance

#: Memory the explicit Jacobian may take: fewer rows are sampled where the variables are so large that
#: :data:`JACOBIAN_ROW_CAP` rows would not fit (256 rows of a million float64 elements are 4 GiB).
JACOBIAN_BYTES = 256 << 20
JACOBIAN_ROW_CAP = 256
"""Most output elements whose Jacobian rows are built explicitly; past it, a random sample."""

_EXACT = Tolerance(0.0, 0.0, "must be untouched")


def forward(target: Target, variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Run the target with grad enabled; the outputs that carry a grad."""
    with torch.enable_grad():
        return target.outputs(variables)


class Graph:
    """One forward of a target on fresh leaves, kept for every VJP the properties of an example take.

    :func:`gradprops.check` builds one per example and hands it to each property, so an example
    costs one forward for all of them instead of one each, and the VJP of the seed the oracle
    properties share (finite differences, adjoint, finite grads, purity) is taken once:
    :meth:`vjp` remembers its result for a seed it has seen (the same memory, layout and version,
    so a detached view of it counts). A property called on its own builds its own graph.
    Forward runs on first use of :attr:`outputs`, inside the caller's error handling;
    ``guarded`` also checks that it wrote into none of its inputs (:func:`guarded_forward`).
    ``at`` gives the variables other values than the target's (layouts kept).

    >>> g = Graph(Target(torch.sin, torch.zeros(2, requires_grad=True)))
    >>> v = (torch.ones(2),)
    >>> g.vjp(v) is g.vjp(tuple(t.detach() for t in v))
    True
    """

    def __init__(self, target: Target, *, guarded: bool = False, at: Sequence[Tensor] | None = None) -> None:
        self.target, self.guarded = target, guarded
        values = [v.value for v in target.variables] if at is None else at
        self.variables = tuple(fresh_leaf(x.detach()).requires_grad_() for x in values)
        self.names = [v.name for v in target.variables]
        # What the leaves hold until backward writes into them (a guarded forward has checked its part).
        self.originals = tuple(x.detach() for x in values)
        self._outputs: tuple[Tensor, ...] | None = None
        self._remembered: list[tuple[tuple[object, ...], Sequence[Tensor], tuple[Tensor, ...]]] = []
        self._functions: list[type[torch.autograd.Function]] | None = None

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        if self._outputs is None:
            run = guarded_forward if self.guarded else forward
            self._outputs = run(self.target, self.variables)
        return self._outputs

    @property
    def custom_functions(self) -> list[type[torch.autograd.Function]]:
        """:func:`custom_functions` of the outputs, walked once for every property that asks."""
        if self._functions is None:
            self._functions = custom_functions(self.outputs)
        return self._functions

    def vjp(self, seed: Sequence[Tensor], *, remember: bool = True) -> tuple[Tensor, ...]:
        """:func:`vjp` of this graph, remembered per seed object (seeds are never written into);
        ``remember=False`` runs backward again, as a check that it repeats itself needs."""
        key = tuple((t.data_ptr(), t.shape, t.stride(), t.dtype, t._version, t.is_conj(), t.is_neg()) for t in seed)
        for known, _, grads in self._remembered if remember else ():
            if known == key:
                return grads
        # Unguarded, forward may have written into the leaves: compare with a copy taken now instead.
        originals = self.originals if self.guarded else None
        grads = vjp(self.outputs, self.variables, seed, names=self.names, originals=originals)
        if remember:
            self._remembered.append((key, seed, grads))  # holding the seed keeps its memory from reuse
        return grads


def as_seed(seed: Tensor | Sequence[Tensor], outputs: Sequence[Tensor], label: str) -> tuple[Tensor, ...]:
    """Validate a seed (one tensor per differentiable output) against the outputs it seeds."""
    seeds = (seed,) if isinstance(seed, Tensor) else seed
    if not isinstance(seeds, (tuple, list)) or not all(isinstance(s, Tensor) for s in seeds):
        raise UsageError(
            f"seed {label} must be a tensor, or a tuple of tensors with one per differentiable "
            f"output, got {type(seed).__name__}"
        )
    shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
    if len(seeds) != len(outputs):
        raise UsageError(
            f"seed {label} has {len(seeds)} tensor(s) but the function has {len(outputs)} "
            f"differentiable output(s) of shapes {shapes}: pass one seed per output, in order"
        )
    for i, (s, o) in enumerate(zip(seeds, outputs)):
        if s.shape != o.shape:
            raise UsageError(
                f"seed {label} for output {i} has shape {tuple(s.shape)} but the output has shape "
                f"{tuple(o.shape)}: make it with torch.randn_like(output)"
            )
        if s.dtype != o.dtype:
            raise UsageError(
                f"seed {label} for output {i} has dtype {s.dtype} but the output is {o.dtype}: "
                f"make it with torch.randn_like(output) or .to({o.dtype})"
            )
        if not all_finite([s]):
            raise UsageError(f"seed {label} for output {i} has NaN or inf values: a seed must be finite "
                             "(a NaN seed makes every comparison pass or fail by accident)")
    return tuple(s.detach() for s in seeds)  # not copies: Graph.vjp knows a seed by its memory


def vjp(
    outputs: Sequence[Tensor],
    variables: Sequence[Tensor],
    seed: Sequence[Tensor],
    *,
    names: Sequence[str],
    create_graph: bool = False,
    originals: Sequence[Tensor] | None = None,
) -> tuple[Tensor, ...]:
    """``seedᵀJ`` for each variable via the user's backward; ``None`` grads become zeros.

    The graph is kept (``retain_graph=True``) so a property can take several VJPs of one forward.
    ``originals``, tensors the variables are known to equal (the values their leaves were copied
    from), spares copying the variables to check that backward left them alone.
    """
    seed_before = [s.clone() for s in seed]
    variables_before = [v.detach().clone() for v in variables] if originals is None else originals
    grads = call_user(
        "backward",
        lambda: torch.autograd.grad(
            outputs, variables, seed, retain_graph=True, create_graph=create_graph,
            allow_unused=True,
        ),
    )
    _require_untouched(seed, seed_before, [f"seed (output {i})" for i in range(len(seed))])
    _require_untouched(variables, variables_before, names)
    return _zeros_for_none(grads, variables)


def sum_vjp(outputs: Sequence[Tensor], variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Grads of ``sum(y.sum() for y in outputs)``: autograd hands backward an expanded ones seed."""

    def total() -> Tensor:
        parts = [o.sum().real if o.is_complex() else o.sum() for o in outputs]
        return torch.stack([p.to(torch.float64) for p in parts]).sum()

    grads = call_user(
        "backward",
        lambda: torch.autograd.grad(total(), variables, retain_graph=True, allow_unused=True),
    )
    return _zeros_for_none(grads, variables)


class JacobianProducts(NamedTuple):
    """What :func:`jacobian_products` returns."""

    seed: tuple[Tensor, ...]  # the seed restricted to the rows built: take backward's VJP of this one
    products: tuple[Tensor, ...]  # seedᵀJ per variable, in float64
    note: str  # says so when the rows were capped
    #: Per variable, where a seed entry of 0 met a J entry past the dtype's range: seedᵀJ leaves that
    #: row out (0·x is 0 for every x J stands for), but a backward in the dtype may compute 0·inf = NaN.
    zero_times_inf: tuple[Tensor, ...]


def jacobian_products(
    target: Target,
    variables: Sequence[Tensor],
    seed: Sequence[Tensor],
    *,
    row_cap: int = JACOBIAN_ROW_CAP,
    generator: torch.Generator | None = None,
) -> JacobianProducts:
    """``seedᵀJ`` per variable with ``J`` from ``torch.autograd.functional.jacobian``.

    When the outputs have more than ``row_cap`` elements, only ``row_cap`` rows are built, sampled at
    random among those where the seed is not 0 first (:func:`_choose_rows`); the seed is then
    restricted to those rows, and the caller takes the VJP of exactly the seed the Jacobian saw.
    """
    sizes = [o.numel() for o in seed]
    total = sum(sizes)
    note = ""
    if total == 0:  # no rows; torch.autograd.functional.jacobian itself fails on empty outputs
        zeros = tuple(torch.zeros(v.shape, dtype=torch.float64, device=v.device) for v in variables)
        return JacobianProducts(tuple(seed), zeros, note, tuple(z.bool() for z in zeros))
    # Each row holds one value per variable element (and a float64 copy of its block): keep them in budget.
    row_bytes = sum(v.numel() * (v.element_size() + 8) for v in variables) or 1
    affordable = max(1, JACOBIAN_BYTES // row_bytes)
    if total > min(row_cap, affordable):
        cap = min(row_cap, affordable)
        chosen = _choose_rows(seed, cap, generator)
        rows = _split_rows(chosen, sizes)
        seed = tuple(_restrict(s, r) for s, r in zip(seed, rows))
        note = f"explicit Jacobian capped: {cap} of {total} rows, sampled at random" + (
            f" ({JACOBIAN_BYTES >> 20} MiB hold {affordable} rows of {row_bytes // 1024} KiB)"
            if affordable < row_cap else "")
    else:
        rows = [torch.arange(n) for n in sizes]
    # Outputs with no row to build are left out: jacobian() fails on zero-element outputs, and
    # their part of seedᵀJ is zero.
    kept = [i for i, r in enumerate(rows) if len(r)]

    def fn(*vs: Tensor) -> tuple[Tensor, ...]:
        outs = target.outputs(vs)
        return tuple(outs[i].reshape(-1)[rows[i]] for i in kept)

    seed_rows = [seed[i].reshape(-1)[rows[i]] for i in kept]
    jac = call_user(
        "backward",
        lambda: torch.autograd.functional.jacobian(fn, tuple(v.detach() for v in variables)),
    )
    products, zero_times_inf = [], []
    for j, v in enumerate(variables):
        acc = torch.zeros(v.shape, dtype=torch.float64, device=v.device)
        unsettled = torch.zeros(v.shape, dtype=torch.bool, device=v.device)
        for k, s in enumerate(seed_rows):
            block = jac[k][j].reshape(s.numel(), -1).to(torch.float64)
            s = s.to(torch.float64)
            if not all_finite([block]):
                zero_rows = s == 0
                unsettled |= (~block[zero_rows].isfinite()).any(0).reshape(v.shape)
                block = torch.where(zero_rows.unsqueeze(1), 0.0, block)
            acc += (s @ block).reshape(v.shape)
        products.append(acc)
        zero_times_inf.append(unsettled)
    return JacobianProducts(tuple(seed), tuple(products), note, tuple(zero_times_inf))


def _choose_rows(seed: Sequence[Tensor], count: int, generator: torch.Generator | None) -> Tensor:
    """``count`` row indices into the seeds laid end to end, sorted: rows where the seed is not 0
    first (a row whose seed is 0 adds nothing to seedᵀJ, and a seed restricted to such rows alone
    would be all zero), sampled at random when there are more; then random rows where it is 0.

    >>> _choose_rows([torch.tensor([0.0, 0.0, 3.0, 0.0, 5.0, 0.0])], 2, None).tolist()
    [2, 4]
    """
    nonzero = torch.cat([s.reshape(-1).ne(0).cpu() for s in seed])
    picked = nonzero.nonzero().reshape(-1)
    if len(picked) >= count:
        return picked[_sample_rows(len(picked), count, generator)]
    zeros = (~nonzero).nonzero().reshape(-1)
    return torch.cat([picked, zeros[_sample_rows(len(zeros), count - len(picked), generator)]]).sort().values


def _sample_rows(total: int, count: int, generator: torch.Generator | None) -> Tensor:
    """``count`` distinct row indices out of ``total``, sorted; O(count) when count ≪ total."""
    if total <= 4 * count:
        return torch.randperm(total, generator=generator)[:count].sort().values
    picked: dict[int, None] = {}
    while len(picked) < count:  # collisions are rare: total > 4·count
        picked.update(dict.fromkeys(torch.randint(total, (count,), generator=generator).tolist()))
    return torch.tensor(sorted(list(picked)[:count]))


def _split_rows(chosen: Tensor, sizes: list[int]) -> list[Tensor]:
    rows, start = [], 0
    for n in sizes:
        mask = (chosen >= start) & (chosen < start + n)
        rows.append(chosen[mask] - start)
        start += n
    return rows


def _restrict(seed: Tensor, rows: Tensor) -> Tensor:
    """``seed`` with every element outside ``rows`` zeroed, keeping its memory layout if it can."""
    keep = torch.zeros(seed.numel(), dtype=torch.bool, device=seed.device)
    keep[rows] = True
    keep = keep.reshape(seed.shape)
    if repeats(seed):
        return torch.where(keep, seed, torch.zeros_like(seed))  # expanded: cannot keep stride 0
    out = fresh_leaf(seed).detach()
    out.masked_fill_(~keep, 0)
    return out


def _zeros_for_none(grads: Sequence[Tensor | None], variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    return tuple(
        torch.zeros_like(v, memory_format=torch.contiguous_format) if g is None else g
        for g, v in zip(grads, variables)
    )


def _require_untouched(
    now: Sequence[Tensor], before: Sequence[Tensor], names: Sequence[str], stage: str = "backward"
) -> None:
    first: tuple[str, Any] | None = None
    for t, b, name in zip(now, before, names):
        if t.shape != b.shape or same_values(t, b):  # one pass, the usual answer
            continue
        # a copy: the values are put back below, and the report must show what was written
        m = compare(t.detach().clone(), b, name=name, tolerance=_EXACT, magnitude=0.0,
                    actual_label="after", expected_label="before")
        if m is not None:
            _restore(t, b)  # every tensor written into, not only the first one reported
            first = first or (name, m)
    if first is not None:
        name, m = first
        what = "its seed (grad_output)" if name.startswith("seed") else f"{name}"
        raise Mutated(
            f"{stage} wrote into {what} in place; it must only read it (autograd may share "
            "that tensor with other parts of the graph, whose grads it then corrupts)",
            m,
        )



def _restore(t: Tensor, before: Tensor) -> None:
    """Put back the values the function under test overwrote: the caller's seed or fixed input is as
    it was, and the failure's case shows what was given, not what was left of it. An expanded
    (stride-0) tensor is written through one element of each repeated dim, which holds them all."""
    one = tuple(slice(0, 1) if s == 0 and n > 1 else slice(None) for n, s in zip(t.shape, t.stride()))
    try:
        with torch.no_grad():
            t.detach()[one].copy_(before[one])
    except RuntimeError:  # memory that overlaps otherwise (as_strided): the failure is reported all the same
        pass


# --- forward that must not write into its inputs ------------------------------------------------


def guarded_forward(target: Target, variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """:func:`forward`, then check that it left the variables and the fixed inputs untouched.

    A custom Function's forward runs with grad disabled, so ``x.mul_(2)`` on an input passes
    silently: the caller's tensor changes and every later use of it is wrong.
    """
    fixed = [(f"{name} (held fixed)", x) for name, x in zip(target.input_names, target.inputs)
             if not is_differentiable(x)]
    names = [v.name for v in target.variables] + [n for n, _ in fixed]
    watched = [*variables, *(x for _, x in fixed)]
    before = [t.detach().clone() for t in watched]
    outputs = forward(target, variables)
    _require_untouched(watched, before, names, stage="forward")
    return outputs


# --- more than one backward ----------------------------------------------------------------------


def accumulated_grads(
    outputs: Sequence[Tensor],
    variables: Sequence[Tensor],
    seeds: Sequence[Sequence[Tensor]],
) -> tuple[Tensor, ...]:
    """``.grad`` of each variable after ``backward(seed)`` for every seed in turn, the way users call it.

    ``variables`` must be leaves whose ``.grad`` is still ``None``; each backward keeps the graph.
    """
    for seed in seeds:
        # autograd gets copies (layout kept: backward must see the seed the VJPs saw): where backward
        # hands the seed straight through (a view op), AccumulateGrad may keep it as .grad and add
        # the next backward's grads into it in place.
        given = [fresh_leaf(s).detach() for s in seed]
        call_user(
            "backward",
            functools.partial(torch.autograd.backward, outputs, given, retain_graph=True, inputs=list(variables)),
        )
        _require_untouched(given, seed, [f"seed (output {i})" for i in range(len(seed))])
    return tuple(
        torch.zeros_like(v, memory_format=torch.contiguous_format) if v.grad is None else v.grad.detach().clone()
        for v in variables
    )


def loss_grads(loss: Tensor, tensors: Sequence[Tensor], *, names: Sequence[str]) -> tuple[Tensor, ...]:
    """Grads of a scalar ``loss`` with respect to ``tensors`` (leaves or intermediate outputs).

    What ``loss.backward()`` would accumulate; the graph is kept. The variables among ``tensors``
    are checked to be left untouched like in :func:`vjp`.
    """
    before = [t.detach().clone() for t in tensors]
    grads = call_user(
        "backward",
        lambda: torch.autograd.grad(loss, tensors, retain_graph=True, allow_unused=True),
    )
    _require_untouched(tensors, before, names)
    return _zeros_for_none(grads, tensors)


class DoubleVJP(NamedTuple):
    """Backward of ``⟨seed, first_grads⟩``: its part in the variables and in the first-order seed."""

    variables: tuple[Tensor, ...]
    first_seed: tuple[Tensor, ...]  # = J·seed for a correct backward; empty when no first seed was given


def double_vjp(
    first_grads: Sequence[Tensor],
    variables: Sequence[Tensor],
    seed: Sequence[Tensor],
    *,
    names: Sequence[str],
    first_seed: Sequence[Tensor] = (),
) -> DoubleVJP:
    """``seedᵀ·∂(first_grads)/∂(variables, first_seed)``: backward of the grads a ``create_graph=True``
    VJP returned, with respect to the variables and to the seed that VJP was taken with.

    ``first_seed`` is the seed (leaves requiring grad) those grads were computed with: a
    differentiable backward's grads always depend on it, so grads connected to neither it nor the
    variables show a backward that is not differentiable. Raises :class:`Unavailable` when the
    function does not support double backward (``@once_differentiable``, an op without a
    double-backward formula, a backward computed outside autograd).
    """
    pairs = [(g, t) for g, t in zip(first_grads, seed) if g.requires_grad]
    if any(type(g.grad_fn).__name__ == "Error" for g, _ in pairs):  # once_differentiable's DelayedError
        raise Unavailable("double backward is not supported: backward is marked @once_differentiable")
    if not pairs:
        raise Unavailable(
            "double backward is not available: with create_graph=True the grads still do not require "
            "grad (backward computes them outside autograd, e.g. under no_grad, via .detach() or numpy)"
        )
    seed_before = [t.clone() for t in seed]
    variables_before = [v.detach().clone() for v in variables]
    wrt = [*variables, *first_seed]
    try:
        grads = call_user(
            "double backward",
            lambda: torch.autograd.grad(
                [g for g, _ in pairs], wrt, [t for _, t in pairs], retain_graph=True, allow_unused=True
            ),
        )
    except FunctionRaised as exc:
        if _says_unsupported(exc.original, _NO_DOUBLE_BACKWARD):
            raise Unavailable(f"double backward is not supported: {_first_line(exc.original)}") from exc
        raise
    if first_seed and all(g is None for g in grads):
        raise Unavailable(
            "double backward is not available: the grads backward returns (create_graph=True) are connected "
            "to neither its inputs nor its seed (computed outside autograd, or detached)"
        )
    _require_untouched(seed, seed_before, [f"second-order seed ({n})" for n in names], stage="double backward")
    _require_untouched(variables, variables_before, names, stage="double backward")
    return DoubleVJP(_zeros_for_none(grads[: len(variables)], variables),
                     _zeros_for_none(grads[len(variables):], first_seed))


_NO_DOUBLE_BACKWARD = re.compile(
    r"once_differentiable|not implemented|not supported|double backward|does not require grad", re.I
)
_NO_FORWARD_AD = re.compile(r"forward.?mode|forward AD|jvp|not implemented|not supported", re.I)


def _says_unsupported(exc: BaseException, pattern: re.Pattern[str]) -> bool:
    return isinstance(exc, NotImplementedError) or bool(pattern.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# --- forward-mode AD -----------------------------------------------------------------------------


def jvp(target: Target, variables: Sequence[Tensor], directions: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``J·d``: the outputs' tangents when the variables move along ``directions``, by forward-mode AD.

    Uses ``torch.autograd.forward_ad`` dual tensors rather than ``torch.func.jvp``: dual tensors go
    through old-style custom Functions (``forward(ctx, ...)``) that define ``jvp`` and through
    ``functional_call`` for module parameters, where ``torch.func`` transforms require the
    ``setup_context`` style. The target must already have run forward once (it knows its outputs).
    Raises :class:`Unavailable` where forward-mode AD is not implemented (a custom Function
    without ``jvp``, an op without a forward-AD formula).

    >>> t = Target(torch.sin, torch.zeros(2, dtype=torch.float64, requires_grad=True))
    >>> g = Graph(t)
    >>> _ = g.outputs
    >>> jvp(t, g.variables, (torch.ones(2, dtype=torch.float64),))
    (tensor([1., 1.], dtype=torch.float64),)
    """

    def run() -> tuple[Tensor, ...] | None:
        _forward_ad_loaded()
        with fwAD.dual_level():
            duals = [fwAD.make_dual(_primal(v), d.to(v.dtype)) for v, d in zip(variables, directions)]
            outputs = target.outputs(duals)
            raw = [fwAD.unpack_dual(o).tangent for o in outputs]
            if outputs and all(t is None for t in raw):
                return None
            return tuple(torch.zeros_like(o.detach()) if t is None else t.detach().clone()
                         for o, t in zip(outputs, raw))

    try:
        tangents = call_user("forward-mode AD", run)
    except FunctionRaised as exc:
        if _says_unsupported(exc.original, _NO_FORWARD_AD):
            raise Unavailable(f"forward-mode AD is not available: {_first_line(exc.original)}") from exc
        raise FunctionRaised("forward-mode AD (forward with dual tensors, or a custom jvp)", exc.original) from exc
    if tangents is None:
        # Not a tangent of zero: forward mode never reached the outputs. A torch.library custom op
        # without a forward-AD rule drops the tangent silently (torch 2.13) instead of raising.
        raise Unavailable("forward-mode AD gives the outputs no tangent at all: an op on the way drops it (a "
                          "torch.library custom op has no forward-AD rule)")
    return tangents


def _primal(v: Tensor) -> Tensor:
    """``v``'s values in its layout, or contiguous where stride 0 cannot hold a tangent's distinct values."""
    if repeats(v):
        return v.detach().contiguous()
    return fresh_leaf(v).detach()


# --- float64 copies and shifted evaluations (finite differences) --------------------------------

def float64_target(target: Target) -> Target:
    """The target on float64 (complex128) copies of its floating-point inputs, layouts kept.

    Module parameters are substituted per call, so the caller passes float64 variables as usual.
    Returns ``target`` itself when every input is already float64/complex128 or not floating point.
    """
    if all(wide_dtype(x.dtype) == x.dtype for x in target.inputs) and all(
        wide_dtype(v.value.dtype) == v.value.dtype for v in target.variables
    ):
        return target
    return target.rebuilt(inputs=[fresh_leaf(x, wide_dtype(x.dtype)) for x in target.inputs])


def float64_variables(target: Target) -> tuple[Tensor, ...]:
    """The target's variable values as float64 (complex128) copies in their layouts, detached."""
    return tuple(fresh_leaf(x.value, wide_dtype(x.value.dtype)).detach() for x in target.variables)


def outputs_at(target: Target) -> Callable[[Sequence[Tensor]], tuple[Tensor, ...]]:
    """A pure map from variable values to detached outputs: each call runs forward on fresh leaves."""

    def run(values: Sequence[Tensor]) -> tuple[Tensor, ...]:
        leaves = [fresh_leaf(v).detach().requires_grad_() for v in values]
        return tuple(o.detach() for o in forward(target, leaves))

    return run


def vjp_at(
    target: Target, seed: Sequence[Tensor], names: Sequence[str]
) -> Callable[[Sequence[Tensor]], tuple[Tensor, ...]]:
    """A map from variable values to ``VJP(seed)`` there: one forward and one backward per call."""

    def run(values: Sequence[Tensor]) -> tuple[Tensor, ...]:
        leaves = [fresh_leaf(v).detach().requires_grad_() for v in values]
        grads = vjp(forward(target, leaves), leaves, seed, names=names)
        return tuple(g.detach() for g in grads)

    return run


def evaluate_along(
    fn: Callable[[Sequence[Tensor]], tuple[Tensor, ...]],
    base: Sequence[Tensor],
    directions: Sequence[Tensor],
    steps: Sequence[float],
) -> list[tuple[Tensor, ...]]:
    """``fn(base + step·directions)`` for each step: the raw material of finite differences.

    Every evaluation gets its own copies (layout kept where the layout can hold distinct values), so
    a function that writes into its inputs cannot shift the next point.
    """
    return [fn([_shifted(b, d, step) for b, d in zip(base, directions)]) for step in steps]


def realized_direction(base: Sequence[Tensor], directions: Sequence[Tensor], step: float) -> tuple[Tensor, ...]:
    """What the points :func:`evaluate_along` uses at ``±step`` really differ by, divided by ``2·step``.

    Rounding ``x + h·d`` loses the part of ``h·d`` below ``x``'s precision (all of it when ``|x|``
    is huge): compare backward against this direction, not the intended one.
    """
    return tuple(
        ((b.detach() + step * d.to(b.dtype)) - (b.detach() + (-step) * d.to(b.dtype))) / (2 * step)
        for b, d in zip(base, directions)
    )


def _shifted(base: Tensor, direction: Tensor, step: float) -> Tensor:
    out = fresh_leaf(base).detach()
    if step == 0.0:
        return out
    value = base.detach() + step * direction.to(base.dtype)
    if repeats(base):
        return value  # stride 0 cannot hold distinct values: a contiguous point instead
    return out.copy_(value)


__all__ = [
    "JACOBIAN_ROW_CAP",
    "Graph",
    "JacobianProducts",
    "accumulated_grads",
    "as_seed",
    "double_vjp",
    "evaluate_along",
    "float64_target",
    "forward",
    "fresh_leaf",
    "guarded_forward",
    "jacobian_products",
    "jvp",
    "loss_grads",
    "outputs_at",
    "realized_direction",
    "sum_vjp",
    "vjp",
    "vjp_at",
    "wide_dtype",
]


def outputs_and_vjp(
    target: Target, values: Sequence[Tensor], seed: Sequence[Tensor], names: Sequence[str]
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Forward at ``values`` (on fresh leaves) and ``VJP(seed)`` there, both detached: one pass each.

    Runs inside whatever dispatch mode the caller set (:class:`gradprops.precision.SimulatedPrecision`).
    """
    leaves = [fresh_leaf(v).detach().requires_grad_() for v in values]
    outputs = forward(target, leaves)
    grads = call_user(
        "backward",
        lambda: torch.autograd.grad(outputs, leaves, seed, retain_graph=False, allow_unused=True),
    )
    return tuple(o.detach() for o in outputs), tuple(g.detach() for g in _zeros_for_none(grads, leaves))


def narrowing_steps(target: Target) -> dict[str, dict[str, int]] | None:
    """Where a float64 (complex128) target computes in a narrower dtype: per stage (``"forward"``,
    ``"backward"``), the aten ops that turned float64 values into float32 or less, and how often.

    Empty when nothing narrows; ``None`` when nothing can be known: the target has inputs narrower
    than float64 (nothing to narrow from), or it raised (that is another property's finding). Runs one
    forward and one backward of ones: a step taken only for other seeds, layouts or values is not seen.
    """
    if not target.variables or any(v.value.dtype not in (torch.float64, torch.complex128) for v in target.variables):
        return None
    found: dict[str, dict[str, int]] = {}
    leaves = [fresh_leaf(v.value).detach().requires_grad_() for v in target.variables]
    try:
        with Narrowing() as watch:
            outputs = forward(target, leaves)
        found["forward"] = watch.steps
        with Narrowing() as watch:
            vjp(outputs, leaves, [torch.ones_like(o) for o in outputs], names=[v.name for v in target.variables])
        found["backward"] = watch.steps
    except Exception:  # a diagnosis only: what the function did wrong is the properties' to say
        return None
    return {stage: steps for stage, steps in found.items() if steps}


def parameters_read_elsewhere(target: Target) -> list[str]:
    """The module parameters whose grads differ between the module called as is (its own
    parameters) and gradprops' call with substituted copies, for one random seed; ``[]`` for
    functions, and when the module raises or cannot be compared.

    A module whose library differentiates ``module.parameters()`` itself — an ODE adjoint that
    re-runs the module in backward — computes the grads of its own parameters, and the substituted
    copies receive none. Only asked once a property has failed on a module.
    """
    module = target.module
    if module is None or not target.parameter_names:
        return []
    own = [p for n, p in module.named_parameters() if p.requires_grad]
    try:
        graph = Graph(target)
        outputs = graph.outputs
        seed = random_seed_like(outputs, torch.Generator().manual_seed(0))
        substituted = graph.vjp(seed)[len(target.variables) - len(own):]
        positional, keywords = target.call_arguments([fresh_leaf(x) for x in target.inputs])
        raw = call_user("forward", lambda: module(*positional, **keywords))
        mine = [o for o in pytree.tree_leaves(raw) if isinstance(o, Tensor) and o.requires_grad]
        if [o.shape for o in mine] != [o.shape for o in outputs]:
            return []
        grads = call_user("backward", lambda: torch.autograd.grad(mine, own, seed, allow_unused=True))
    except (FunctionRaised, Mutated, RuntimeError):
        return []
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    differ = []
    for name, g, s in zip(names, _zeros_for_none(grads, own), substituted):
        scale = max(float(g.detach().abs().max()) if g.numel() else 0.0, 1e-300)
        if not torch.allclose(g.detach(), s.detach().to(g.dtype), rtol=1e-5, atol=1e-7 * scale):
            differ.append(name)
    return differ



# --- torch.func transforms (the vmap property) -------------------------------------------------

def custom_functions(outputs: Sequence[Tensor]) -> list[type[torch.autograd.Function]]:
    """The custom ``torch.autograd.Function`` classes in the graph of ``outputs``, first met first.

    >>> class Twice(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x): return 2 * x
    ...     @staticmethod
    ...     def backward(ctx, g): return 2 * g
    >>> x = torch.ones(2, requires_grad=True)
    >>> [c.__name__ for c in custom_functions((Twice.apply(x).sin(),))]
    ['Twice']
    """
    found: list[type[torch.autograd.Function]] = []
    seen: set[int] = set()
    stack: list[Any] = [o.grad_fn for o in outputs if o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        cls = getattr(node, "_forward_cls", None)
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
        stack.extend(child for child, _ in node.next_functions)
    return found


@contextmanager
def _quiet_batching_fallback() -> Iterator[None]:
    # An op without a batching rule runs in a loop and warns about its speed: torch's business, never
    # the function under test's (under -W error it would fail every correct op).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"There is a performance drop", category=UserWarning)
        yield


def func_vjp(target: Target, values: Sequence[Tensor], seed: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``seedᵀJ`` at ``values`` through ``torch.func.vjp`` rather than ``torch.autograd.grad``."""
    def run() -> tuple[Tensor, ...]:
        pullback = torch.func.vjp(lambda *vs: target.outputs(vs), *(v.detach() for v in values))[1]
        return tuple(g.detach() for g in pullback(tuple(seed)))

    return _transformed("torch.func.vjp", run)


@functools.cache
def _forward_ad_loaded() -> None:
    """Have torch load its forward-AD decompositions, once, outside any function under test.

    A process's first dual tensor (``make_dual``, or ``torch.func.jvp`` making one) imports them,
    scripting 18 with torch.jit.script, which warns that TorchScript is deprecated: torch's
    business and ours, never the function under test's (under -W error it would fail every correct
    op). Only that warning is silenced, and only here, where no user code runs.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is ", category=DeprecationWarning,
                                module=r"torch\.jit\._script")
        with fwAD.dual_level():
            fwAD.make_dual(torch.zeros(()), torch.zeros(()))


def func_jvp(target: Target, values: Sequence[Tensor], directions: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``J·d`` at ``values`` through ``torch.func.jvp`` rather than forward-mode dual tensors (on the
    same primals as :func:`jvp`: a stride-0 layout cannot hold a tangent)."""
    _forward_ad_loaded()

    def run() -> tuple[Tensor, ...]:
        primals = tuple(_primal(v) for v in values)
        tangents = tuple(d.to(v.dtype) for v, d in zip(primals, directions))
        return tuple(torch.func.jvp(lambda *vs: target.outputs(vs), primals, tangents)[1])

    return _transformed("torch.func.jvp", run)


def vmapped_outputs(target: Target, batched: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """The outputs of ``torch.func.vmap(target)`` over dim 0 of each variable in ``batched``."""
    return _transformed("torch.func.vmap", lambda: torch.func.vmap(lambda *vs: target.outputs(vs))(*batched))


def vmapped_vjp(target: Target, batched: Sequence[Tensor], seeds: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """``torch.func.vmap`` over dim 0 of (variables, seeds) of ``torch.func.vjp``'s pullback."""
    def one(values: tuple[Tensor, ...], seed: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        pullback = torch.func.vjp(lambda *vs: target.outputs(vs), *values)[1]
        return tuple(pullback(seed))

    return _transformed("torch.func.vmap of torch.func.vjp",
                        lambda: torch.func.vmap(one)(tuple(batched), tuple(seeds)))


def _transformed(stage: str, run: Callable[[], tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    try:
        with _quiet_batching_fallback():
            return tuple(t.detach() for t in call_user(stage, run))
    except FunctionRaised as exc:
        raise FunctionRaised(f"{exc.stage} under {stage}" if exc.stage != stage else stage, exc.original) from exc
