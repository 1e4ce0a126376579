"""Structured domains: SPD matrices, probability rows and class indices keep what inputs() drew."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import gradprops
from gradprops import strategies as gst


@settings(max_examples=60, deadline=None)
@given(gst.spd(gst.inputs("(n,n)", dtype=(torch.float64,)), condition=50.0))
def test_spd_matrices_are_symmetric_with_eigenvalues_within_the_condition(case):
    (a,) = case
    assert a.requires_grad and a.is_leaf
    assert torch.equal(a, a.mT)
    if a.numel():
        eigenvalues = torch.linalg.eigvalsh(a.detach())
        assert float(eigenvalues.min()) >= 1 - 1e-9 and float(eigenvalues.max()) <= 50 * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_spd_keeps_the_drawn_layout_unless_the_matrix_itself_repeats(data):
    case = data.draw(gst.inputs("(n,n)", layouts=["permuted", "sliced", "expanded"], min_side=1))
    ((x,), (a,)) = case, data.draw(gst.spd(st.just(case)))
    matrix_repeats = any(x.stride(d) == 0 and x.shape[d] > 1 for d in (-1, -2))
    if matrix_repeats:
        assert a.is_contiguous()  # rank 1 in that layout: written contiguously, as documented
    else:
        assert a.stride() == x.stride() and a.storage_offset() == x.storage_offset()


@settings(max_examples=60, deadline=None)
@given(gst.well_conditioned(gst.inputs("(m,n)"), condition=30.0))
def test_well_conditioned_matrices_have_singular_values_within_the_condition(case):
    (a,) = case
    if a.numel():
        s = torch.linalg.svdvals(a.detach())
        assert float(s.min()) >= 1 - 1e-9 and float(s.max()) <= 30 * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_orthogonal_matrices_have_orthonormal_columns(data):
    n = data.draw(st.integers(1, 4))
    (q,) = data.draw(gst.orthogonal(gst.inputs(f"(m,{n})").filter(lambda xs: xs[0].shape[-2] >= n)))
    eye = torch.eye(n, dtype=torch.float64).expand(*q.shape[:-2], n, n)
    assert torch.allclose(q.detach().mT @ q.detach(), eye, atol=1e-12)


def test_pinv_passes_check_on_full_rank_matrices():
    # pinv is differentiable only where the rank does not change: drawn rank-deficient (a stride-0
    # layout, a zero matrix), it jumps, and on well-conditioned matrices it is smooth.
    well = gst.well_conditioned(gst.inputs("(m,n)", min_side=1), condition=10.0)
    assert gradprops.check(torch.linalg.pinv, well, seed=0, max_examples=15).ran("finite_differences") == 15


@settings(max_examples=60, deadline=None)
@given(gst.simplex(gst.inputs("(n)", min_side=1, dtype=torch.float32)))
def test_simplex_rows_are_positive_and_sum_to_one(case):
    (p,) = case
    assert p.dtype == torch.float32 and bool((p > 0).all())
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(gst.class_indices(gst.inputs("(n,c)", min_side=1), dim=1))
def test_class_indices_are_in_range_of_the_drawn_classes(case):
    logits, target = case
    assert target.dtype == torch.int64 and target.shape == logits.shape[:1] + logits.shape[2:]
    assert bool(((target >= 0) & (target < logits.shape[1])).all())


def test_ops_that_need_a_structured_domain_pass_check_on_it():
    # cholesky raises off SPD matrices, entropy is NaN off the simplex, cross_entropy needs valid classes:
    # each would be reported as a finding about the op without its domain.
    spd = gst.spd(gst.inputs("(n,n)", min_side=1, layouts=["contiguous", "permuted"]), condition=20.0)
    # cholesky reads one triangle, and its backward is that of the symmetric function (a + a.mT) / 2 ↦ L
    # (what torch documents): differentiated along any direction, that is the function to check.
    cholesky = lambda a: torch.linalg.cholesky((a + a.mT) / 2)  # noqa: E731
    assert gradprops.check(cholesky, spd, seed=0, max_examples=15).ran("finite_differences") == 15
    entropy = lambda p: -(p * p.log()).sum(-1)  # noqa: E731
    assert gradprops.check(entropy, gst.simplex(gst.inputs("(n)", min_side=1)), seed=0,
                           max_examples=15).ran("finite_differences") == 15
    cases = gst.class_indices(gst.inputs("(n,c)", min_side=1, max_batch_dims=0), dim=-1)
    assert gradprops.check(F.cross_entropy, cases, seed=0, max_examples=15).ran("finite_differences") == 15


def test_a_wrong_backward_on_spd_matrices_is_caught():
    class LogdetOff(torch.autograd.Function):  # grad of logdet is A^-1; here A^-1 plus its mean
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return torch.logdet(a)

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            inv = torch.linalg.inv(a)
            return g[..., None, None] * (inv + 0.01 * inv.mean())

    spd = gst.spd(gst.inputs("(n,n)", min_side=1))
    with pytest.raises(gradprops.PropertyFailure):
        gradprops.check(LogdetOff.apply, spd, seed=0, max_examples=30)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: gst.spd(gst.inputs("(n,n)"), condition=0.5), "condition must be a finite number >= 1"),
    (lambda: gst.spd(gst.inputs("(2,3)"), index=0).map(_first), "must end in a square"),
    (lambda: gst.spd(gst.inputs("(n,n)"), index=3).map(_first), "one at index 3"),
    (lambda: gst.simplex(gst.inputs("(n)"), smallest=0), "smallest must be in"),
    (lambda: gst.orthogonal(gst.inputs("(2,3)")).map(_first), "orthonormal columns need m >= n"),
    (lambda: gst.well_conditioned(gst.inputs("(m,n)"), condition=float("inf")), "condition must be"),
    (lambda: gst.class_indices(gst.inputs("(n)", dtype=torch.int64), dim=-1).map(_first), "must be a floating-point"),
    (lambda: gst.spd(torch.eye(2)), "takes a strategy of input tuples"),
])
def test_bad_arguments_are_invalid_arguments(make, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        made = make()
        find(made, lambda _: True)
    assert isinstance(info.value, gradprops.UsageError)


def _first(case):
    return case
