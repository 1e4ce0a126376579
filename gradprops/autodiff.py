"""The few autograd primitives every property needs; the one module that calls torch.autograd.

Every call into the user's backward goes through :func:`vjp`, which also checks that backward left
its seed and the variables alone: writing into ``grad_output`` corrupts grads wherever autograd
shares that tensor, and no numeric property sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gradprops.compare import Mismatch, compare
from gradprops.errors import UsageError
from gradprops.target import FunctionRaised, Target, call_user, fresh_leaf
from gradprops.tolerances import Tolerance

JACOBIAN_ROW_CAP = 256
"""Most output elements whose Jacobian rows are built explicitly; past it, a random sample."""

_EXACT = Tolerance(0.0, 0.0, "must be untouched")


class Mutated(Exception):
    """Backward (or forward) wrote into a tensor it must only read."""

    def __init__(self, detail: str, mismatch: Mismatch) -> None:
        super().__init__(detail)
        self.detail = detail
        self.mismatch = mismatch


def forward(target: Target, variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Run the target with grad enabled; the outputs that carry a grad."""
    with torch.enable_grad():
        return target.outputs(variables)


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
    return tuple(s.detach() for s in seeds)


def vjp(
    outputs: Sequence[Tensor],
    variables: Sequence[Tensor],
    seed: Sequence[Tensor],
    *,
    names: Sequence[str],
    create_graph: bool = False,
) -> tuple[Tensor, ...]:
    """``seedᵀJ`` for each variable via the user's backward; ``None`` grads become zeros.

    The graph is kept (``retain_graph=True``) so a property can take several VJPs of one forward.
    """
    seed_before = [s.clone() for s in seed]
    variables_before = [v.detach().clone() for v in variables]
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


def jacobian_products(
    target: Target,
    variables: Sequence[Tensor],
    seed: Sequence[Tensor],
    *,
    row_cap: int = JACOBIAN_ROW_CAP,
    generator: torch.Generator | None = None,
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], str]:
    """``seedᵀJ`` per variable with ``J`` from ``torch.autograd.functional.jacobian``.

    When the outputs have more than ``row_cap`` elements, only a random sample of ``row_cap`` rows
    is built; the seed is then restricted to those rows. Returns ``(restricted seed, seedᵀJ, note)``
    so the caller takes the VJP of exactly the seed the Jacobian saw.
    """
    sizes = [o.numel() for o in seed]
    total = sum(sizes)
    note = ""
    if total > row_cap:
        chosen = torch.randperm(total, generator=generator)[:row_cap].sort().values
        rows = _split_rows(chosen, sizes)
        seed = tuple(_restrict(s, r) for s, r in zip(seed, rows))
        note = f"explicit Jacobian capped: {row_cap} of {total} rows, sampled at random"

        def fn(*vs: Tensor) -> tuple[Tensor, ...]:
            outs = target.outputs(vs)
            return tuple(o.reshape(-1)[r] for o, r in zip(outs, rows))

        seed_rows = tuple(s.reshape(-1)[r] for s, r in zip(seed, rows))
    else:

        def fn(*vs: Tensor) -> tuple[Tensor, ...]:
            return target.outputs(vs)

        seed_rows = tuple(s.reshape(-1) for s in seed)

    jac = call_user(
        "backward",
        lambda: torch.autograd.functional.jacobian(fn, tuple(v.detach() for v in variables)),
    )
    products = []
    for j, v in enumerate(variables):
        acc = torch.zeros(v.shape, dtype=torch.float64)
        for i, s in enumerate(seed_rows):
            block = jac[i][j].reshape(s.numel(), -1).to(torch.float64)
            acc += (s.to(torch.float64) @ block).reshape(v.shape)
        products.append(acc)
    return seed, tuple(products), note


def _split_rows(chosen: Tensor, sizes: list[int]) -> list[Tensor]:
    rows, start = [], 0
    for n in sizes:
        mask = (chosen >= start) & (chosen < start + n)
        rows.append(chosen[mask] - start)
        start += n
    return rows


def _restrict(seed: Tensor, rows: Tensor) -> Tensor:
    """``seed`` with every element outside ``rows`` zeroed, keeping its memory layout if it can."""
    keep = torch.zeros(seed.numel(), dtype=torch.bool)
    keep[rows] = True
    keep = keep.reshape(seed.shape)
    if any(s == 0 and n > 1 for n, s in zip(seed.shape, seed.stride())):
        return torch.where(keep, seed, torch.zeros_like(seed))  # expanded: cannot keep stride 0
    out = fresh_leaf(seed).detach()
    out.masked_fill_(~keep, 0)
    return out


def _zeros_for_none(grads: Sequence[Tensor | None], variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
    return tuple(
        torch.zeros_like(v, memory_format=torch.contiguous_format) if g is None else g
        for g, v in zip(grads, variables)
    )


def _require_untouched(now: Sequence[Tensor], before: Sequence[Tensor], names: Sequence[str]) -> None:
    for t, b, name in zip(now, before, names):
        if t.shape != b.shape:
            continue
        m = compare(t.detach(), b, name=name, tolerance=_EXACT, magnitude=0.0,
                    actual_label="after", expected_label="before")
        if m is not None:
            what = "its seed (grad_output)" if name.startswith("seed") else f"{name}"
            raise Mutated(
                f"backward wrote into {what} in place; it must only read it (autograd may share "
                "that tensor with other parts of the graph, whose grads it then corrupts)",
                m,
            )


__all__ = [
    "JACOBIAN_ROW_CAP",
    "FunctionRaised",
    "Mutated",
    "as_seed",
    "forward",
    "jacobian_products",
    "sum_vjp",
    "vjp",
]
