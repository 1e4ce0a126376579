"""Structured domains: inputs that must satisfy more than a bound, made from what :func:`inputs` drew.

Each strategy takes a strategy of input tuples (usually ``gst.inputs(signature)``) and rewrites one
tensor of every tuple into the domain, so the case keeps the shapes, dtypes, layouts and shrinking
of ``inputs``: the values are a function of the drawn values, and a drawn case shrinks to a simple
member of the domain (``spd`` to a multiple of the identity, ``simplex`` to uniform rows,
``class_indices`` to class 0).

``spd``            symmetric positive definite matrices with a bounded condition number
``well_conditioned`` full-rank matrices whose singular values lie in ``[1, condition]``
``orthogonal``     matrices with orthonormal columns
``simplex``        rows on the probability simplex (positive, summing to 1 along ``dim``)
``class_indices``  appends an int64 tensor of class indices in ``[0, C)``, ``C`` the drawn size of
                   a dim of the tensor (logits and their targets)

Layouts. A matrix that repeats along its own dims (the ``expanded`` layout with stride 0 in the
last two dims) has rank 1, so it cannot be positive definite: ``spd`` writes such a draw
contiguously, a documented departure from the drawn layout. Repeats along batch dims are kept (the
same matrix repeated), and so are stride 0 along the simplex dim (uniform rows are on the simplex).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from hypothesis import assume
from hypothesis import strategies as st
from torch import Tensor

from gradprops.strategies._validation import ArgumentError
from gradprops.strided import fresh_leaf

Draw = Callable[[st.SearchStrategy[Any]], Any]
Cases = tuple[Tensor, ...]


def spd(cases: st.SearchStrategy[Any], index: int = 0, *, condition: float = 100.0) -> st.SearchStrategy[Cases]:
    """``cases`` with tensor ``index`` (shape ``(..., n, n)``) made symmetric positive definite, its
    eigenvalues between 1 and ``condition``.

    The eigenvectors are the Q of a QR decomposition of the drawn matrix, the eigenvalues
    ``condition ** sigmoid(diagonal)``: a drawn matrix of zeros (what a case shrinks to) gives
    ``sqrt(condition)`` times the identity.

    gradprops differentiates along every direction, symmetric or not. A function that reads one
    triangle (``torch.linalg.cholesky``, ``eigh``) has a backward defined for symmetric matrices
    only: check ``lambda a: f((a + a.mT) / 2)``, as torch's own gradchecks do.

    >>> from hypothesis import find
    >>> from gradprops import strategies as gst
    >>> a, = find(spd(gst.inputs("(n,n)"), condition=10.0), lambda xs: xs[0].shape[-1] == 3)
    >>> bool(torch.linalg.eigvalsh(a.detach()).min() >= 0.99), bool(torch.equal(a, a.mT))
    (True, True)
    """
    _check_condition(condition)
    return _rewritten(cases, index, "spd", lambda x: _spd_values(x, float(condition)))


def _check_condition(condition: Any) -> None:
    if isinstance(condition, bool) or not isinstance(condition, (int, float)) or not 1 <= condition < math.inf:
        raise ArgumentError(f"condition must be a finite number >= 1 (largest over smallest eigenvalue or "
                            f"singular value), got {condition!r}: pass e.g. condition=100.0")


def well_conditioned(cases: st.SearchStrategy[Any], index: int = 0, *,
                     condition: float = 100.0) -> st.SearchStrategy[Cases]:
    """``cases`` with tensor ``index`` (shape ``(..., m, n)``) made full rank, its singular values
    between 1 and ``condition``: ``U·diag(s)·Vᵀ`` with ``U``, ``V`` from QR decompositions of the
    drawn matrix and its transpose, ``s = condition ** sigmoid(diagonal)``.

    >>> from hypothesis import find
    >>> from gradprops import strategies as gst
    >>> a, = find(well_conditioned(gst.inputs("(m,n)"), condition=10.0), lambda xs: xs[0].shape[-2:] == (3, 2))
    >>> s = torch.linalg.svdvals(a.detach())
    >>> bool(s.min() >= 0.99), bool(s.max() <= 10.01)
    (True, True)
    """
    _check_condition(condition)
    return _rewritten(cases, index, "well_conditioned", lambda x: _conditioned_values(x, float(condition)))


def orthogonal(cases: st.SearchStrategy[Any], index: int = 0) -> st.SearchStrategy[Cases]:
    """``cases`` with tensor ``index`` (shape ``(..., m, n)``, ``m >= n``) made to have orthonormal
    columns: the Q of a QR decomposition of the drawn matrix, signs fixed so that R's diagonal is
    positive (a drawn matrix of zeros gives the identity's columns).

    >>> from hypothesis import find
    >>> from gradprops import strategies as gst
    >>> q, = find(orthogonal(gst.inputs("(n,n)")), lambda xs: xs[0].shape[-1] == 3)
    >>> torch.allclose(q.mT @ q, torch.eye(3, dtype=torch.float64))
    True
    """
    return _rewritten(cases, index, "orthogonal", _orthogonal_values)


def simplex(cases: st.SearchStrategy[Any], index: int = 0, *, dim: int = -1,
            smallest: float = 1e-3) -> st.SearchStrategy[Cases]:
    """``cases`` with tensor ``index`` made into probability rows along ``dim``: every entry at least
    ``smallest`` times the uniform value, each row summing to 1 (up to the dtype's rounding).

    >>> from hypothesis import find
    >>> from gradprops import strategies as gst
    >>> p, = find(simplex(gst.inputs("(n)", min_side=1)), lambda xs: xs[0].shape == (2, 4))
    >>> torch.allclose(p.sum(-1), torch.ones(2, dtype=torch.float64)), bool((p > 0).all())
    (True, True)
    """
    if isinstance(smallest, bool) or not isinstance(smallest, (int, float)) or not 0 < smallest <= 1:
        raise ArgumentError(f"smallest must be in (0, 1] (a fraction of the uniform value), got {smallest!r}: "
                            "pass e.g. smallest=1e-3")
    _check_dim(dim)
    return _rewritten(cases, index, "simplex", lambda x: _simplex_values(x, dim, float(smallest)),
                      own=lambda x: {_dim(x, dim, "simplex")})


def class_indices(cases: st.SearchStrategy[Any], index: int = 0, *, dim: int = -1) -> st.SearchStrategy[Cases]:
    """``cases`` with an int64 tensor of class indices appended: shaped like tensor ``index`` without
    ``dim``, each in ``[0, C)`` where ``C`` is that tensor's size along ``dim`` (logits and targets for
    ``F.cross_entropy(logits, target)``: ``dim=1``, or ``-1`` for ``(N, C)`` logits). A draw whose
    ``C`` is 0 while targets are needed is rejected: pass ``min_side=1`` to ``inputs``.

    >>> from hypothesis import find
    >>> from gradprops import strategies as gst
    >>> logits, target = find(class_indices(gst.inputs("(n,c)", min_side=1)), lambda xs: xs[0].shape[-1] > 2)
    >>> target.dtype, bool(((target >= 0) & (target < logits.shape[-1])).all())
    (torch.int64, True)
    """
    _check_dim(dim)
    _check_cases(cases, index, "class_indices")

    @st.composite
    def appended(draw: Draw) -> tuple[Tensor, ...]:
        drawn = _as_tuple(draw(cases), index, "class_indices")
        logits = drawn[index]
        d = _dim(logits, dim, "class_indices")
        classes = logits.shape[d]
        shape = logits.shape[:d] + logits.shape[d + 1:]
        assume(classes > 0 or math.prod(shape) == 0)
        seed = draw(st.integers(0, 2**32 - 1))
        if seed == 0 or classes == 0:
            target = torch.zeros(shape, dtype=torch.int64)
        else:
            target = torch.randint(classes, shape, generator=torch.Generator().manual_seed(seed))
        return (*drawn, target.to(logits.device))

    return appended()


def _rewritten(cases: st.SearchStrategy[Any], index: int, name: str, values: Callable[[Tensor], Tensor],
               own: Callable[[Tensor], set[int]] = lambda x: {x.dim() - 2, x.dim() - 1}) -> st.SearchStrategy[Cases]:
    """``cases`` with tensor ``index`` replaced by ``values`` of it; ``own``: the dims the domain
    works on (a matrix's two, a simplex's one), which are never split into repeats."""
    _check_cases(cases, index, name)

    def rewrite(drawn: Any) -> tuple[Tensor, ...]:
        drawn = _as_tuple(drawn, index, name)
        x = drawn[index]
        # Computed once per repeated batch element and expanded, so the repeats stay exact (batched
        # LAPACK need not return identical bits for identical matrices); the domain's own dims whole.
        base = x.detach()
        for d in _repeated_batch_dims(x, own(x) if x.dim() else set()):
            base = base.narrow(d, 0, 1)
        new = values(base.to(torch.float64)).to(x.dtype)
        return (*drawn[:index], _in_layout_of(x, new.expand(x.shape) if x.dim() else new), *drawn[index + 1:])

    return cases.map(rewrite)


def _check_dim(dim: Any) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ArgumentError(f"dim must be an int, got dim={dim!r}: pass the dim's position, e.g. dim=-1")


def _check_cases(cases: Any, index: Any, name: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ArgumentError(f"index must be the int position of the tensor to rewrite, got index={index!r}: "
                            "pass e.g. index=0 for the first input")
    if not isinstance(cases, st.SearchStrategy):
        raise ArgumentError(f"{name} takes a strategy of input tuples, e.g. gst.inputs('(n,n)'), "
                            f"got {cases!r}"[:300] + f": pass {name}(gst.inputs(...))")


def _repeated_batch_dims(x: Tensor, own: set[int]) -> list[int]:
    """The stride-0 dims of ``x`` outside the dims ``own`` the domain works on."""
    return [d for d in range(x.dim()) if x.stride(d) == 0 and x.shape[d] > 1 and d not in own]


def _as_tuple(drawn: Any, index: int, name: str) -> tuple[Tensor, ...]:
    drawn = (drawn,) if isinstance(drawn, Tensor) else drawn
    if not isinstance(drawn, tuple) or not -len(drawn) <= index < len(drawn) or not isinstance(drawn[index], Tensor):
        size = f"a tuple of {len(drawn)}" if isinstance(drawn, tuple) else f"a {type(drawn).__name__}"
        raise ArgumentError(f"{name}: the strategy must draw tuples of tensors with one at index {index}, "
                            f"drew {size}: pass the index of a tensor it draws (index=0 for the first), or "
                            "a strategy such as gst.inputs('(n,n)')")
    if not drawn[index].is_floating_point():
        raise ArgumentError(f"{name}: input {index} is {drawn[index].dtype}; it must be a floating-point tensor: "
                            "draw it with a floating dtype, e.g. gst.inputs(..., dtype=torch.float64)")
    return drawn


def _dim(x: Tensor, dim: int, name: str) -> int:
    if not -x.dim() <= dim < max(x.dim(), 1) or x.dim() == 0:
        raise ArgumentError(f"{name}: dim={dim} is out of range for input of shape {tuple(x.shape)}: draw "
                            "inputs with that dim (a signature such as '(n,c)')")
    return dim % x.dim()


def _in_layout_of(x: Tensor, values: Tensor) -> Tensor:
    """``values`` as a fresh leaf in ``x``'s layout (its strides, stride 0 included), or contiguous
    where ``x`` repeats along a dim and ``values`` do not."""
    repeated = [d for d in range(x.dim()) if x.stride(d) == 0 and x.shape[d] > 1]
    if any(not torch.equal(values.narrow(d, 0, 1).expand(values.shape), values) for d in repeated):
        leaf = values.contiguous().clone()
    else:
        leaf = fresh_leaf(x).detach()
        target, source = leaf, values
        for d in repeated:  # one write per repeated element: stride-0 memory holds it once
            target, source = target.narrow(d, 0, 1), source.narrow(d, 0, 1)
        with torch.no_grad():
            target.copy_(source)
    return leaf.requires_grad_(x.requires_grad)


def _spd_values(a: Tensor, condition: float) -> Tensor:
    if a.shape[-1] != a.shape[-2]:
        raise ArgumentError(f"spd: input has shape {tuple(a.shape)}; it must end in a square (n, n) matrix: "
                            "draw square matrices, e.g. gst.spd(gst.inputs('(n,n)'))")
    if not a.numel():
        return a
    q, _ = torch.linalg.qr(torch.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0))
    exponent = torch.sigmoid(torch.nan_to_num(a.diagonal(dim1=-2, dim2=-1), nan=0.0))
    eigenvalues = condition ** exponent
    m = (q * eigenvalues.unsqueeze(-2)) @ q.mT
    return (m + m.mT) / 2


def _orthonormal(a: Tensor) -> Tensor:
    """Orthonormal columns spanning ``a``'s (QR with R's diagonal made non-negative, so unique)."""
    q, r = torch.linalg.qr(torch.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0))
    signs = torch.where(r.diagonal(dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(q.dtype)
    return q * signs.unsqueeze(-2)


def _orthogonal_values(a: Tensor) -> Tensor:
    if a.shape[-2] < a.shape[-1]:
        raise ArgumentError(f"orthogonal: input has shape {tuple(a.shape)}; orthonormal columns need m >= n: "
                            "draw at least as many rows as columns, e.g. gst.orthogonal(gst.inputs('(n,n)'))")
    return _orthonormal(a) if a.numel() else a


def _conditioned_values(a: Tensor, condition: float) -> Tensor:
    if not a.numel():
        return a
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    u = _orthonormal(a)[..., :, :k] if m >= n else _orthonormal(a[..., :, :m])
    v = _orthonormal(a.mT)[..., :, :k] if n >= m else _orthonormal(a.mT[..., :, :n])
    diagonal = torch.nan_to_num(a.diagonal(dim1=-2, dim2=-1), nan=0.0)[..., :k]
    singular = condition ** torch.sigmoid(diagonal)
    return (u * singular.unsqueeze(-2)) @ v.mT


def _simplex_values(x: Tensor, dim: int, smallest: float) -> Tensor:
    d = _dim(x, dim, "simplex")
    if not x.numel():
        return x
    n = x.shape[d]
    weights = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).abs().clamp(max=1e6) + smallest
    return weights / weights.sum(d, keepdim=True) if n else weights
