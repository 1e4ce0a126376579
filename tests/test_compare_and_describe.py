"""The comparison engine, layout-preserving copies and repro literals."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradprops.compare import all_finite, compare
from gradprops.describe import describe_tensor, tensor_literal
from gradprops.strided import fresh_leaf
from gradprops.tolerances import resolve_tolerance

tol64 = resolve_tolerance(torch.float64, None, None)


def test_mismatch_reports_count_worst_index_and_allowed():
    expected = torch.zeros(3, 4, dtype=torch.float64)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[2, 3] = 0.25
    m = compare(actual, expected, name="grad of input 0", tolerance=tol64, magnitude=1.0)
    assert (m.mismatched, m.numel, m.worst_index, m.max_abs_diff) == (2, 12, (1, 2), 0.5)
    text = m.render()
    assert "Mismatched elements: 2 / 12 (16.7%)" in text
    assert "Greatest absolute difference: 0.5 at index (1, 2) (up to 1e-07 allowed)" in text


def test_nan_on_one_side_only_is_the_worst_mismatch():
    m = compare(torch.tensor([1.0, float("nan")]), torch.tensor([1.1, 2.0]), name="g",
                tolerance=tol64)
    assert m.worst_index == (1,) and m.max_abs_diff == float("inf")


def test_nan_on_both_sides_agrees():
    nan = torch.tensor([float("nan"), 1.0])
    assert compare(nan, nan.clone(), name="g", tolerance=tol64) is None


def test_atol_scales_with_magnitude():
    big = torch.tensor([1e6, 0.0], dtype=torch.float64)
    off = big + torch.tensor([0.0, 1e-3], dtype=torch.float64)
    assert compare(off, big, name="g", tolerance=tol64) is None  # 1e-3 <= 1e-7 * 1e6
    assert compare(off / 1e6, big / 1e6, name="g", tolerance=tol64) is None
    assert compare(off, big, name="g", tolerance=tol64, magnitude=1.0) is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda b: b[:6].reshape(2, 3),
        lambda b: b[:6].reshape(2, 3).t(),
        lambda b: b[1:13:3],
        lambda b: b[5].expand(4, 2),
        lambda b: b[2:2],
        lambda b: b[7],
    ],
    ids=["contiguous", "transposed", "sliced-with-step-and-offset", "expanded", "empty", "0-d"],
)
def test_fresh_leaf_and_literal_keep_values_and_layout(make):
    t = make(torch.arange(20, dtype=torch.float64))
    copy = fresh_leaf(t.requires_grad_() if t.is_leaf else t.detach().requires_grad_())
    assert copy.is_leaf and copy.requires_grad
    assert (copy.shape, copy.stride(), copy.storage_offset()) == (t.shape, t.stride(), t.storage_offset())
    assert torch.equal(copy.detach(), t.detach())
    rebuilt = eval(tensor_literal(t), {"torch": torch})
    assert torch.equal(rebuilt, t.detach()) and rebuilt.stride() == t.stride()


def test_describe_names_shape_dtype_strides_and_layout():
    t = torch.arange(6.0).reshape(2, 3).t()
    assert describe_tensor(t) == (
        "shape (3, 2), dtype torch.float32, strides (1, 3) non-contiguous, values [[0, 3], [1, 4], [2, 5]]"
    )
    assert "expanded (stride 0)" in describe_tensor(torch.ones(1).expand(3))
    assert "<100 elements, min 0, max 99" in describe_tensor(torch.arange(100.0))


def test_literal_round_trips_non_finite_and_float32_exactly():
    t = torch.tensor([float("inf"), -float("inf"), 0.1, float("nan")], dtype=torch.float32)
    rebuilt = eval(tensor_literal(t), {"torch": torch})
    assert torch.equal(rebuilt[:3], t[:3]) and rebuilt[3].isnan()


def test_the_magnitude_of_large_complex64_values_is_taken_in_complex128():
    from gradprops.compare import max_abs

    big = torch.tensor([3e38 + 3e38j, 1], dtype=torch.complex64)  # |·| overflows in complex64
    assert max_abs([big]) == pytest.approx(4.2426e38, rel=1e-3)


def test_a_scalar_mismatch_under_atol_0_says_why_it_prints_atol_1() -> None:
    from gradprops.properties._common import scalar_mismatch
    from gradprops.tolerances import Tolerance

    rendered = scalar_mismatch("⟨g, d⟩", 1.0, 1.1, Tolerance(1e-7, 0.0, "given"), 1e-3, "a", "b").render()
    assert "atol=0 was given, so beyond rtol only the rounding floor is allowed" in rendered
    assert "(up to 0.001 allowed)" in rendered


@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([3e38, -3e38, 6e4]),
                    min_size=0, max_size=40),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64]),
    repeat=st.sampled_from([1, 3000]),
)
def test_all_finite_agrees_with_isfinite_even_where_a_finite_sum_overflows(values, dtype, repeat) -> None:
    """all_finite's sum shortcut: a sum of large finite values overflows to inf (3e38 in float32, 6e4
    in float16, each repeated 3,000 times) and must fall back, not call them non-finite; a NaN or inf
    anywhere must never come out finite."""
    t = torch.tensor(values, dtype=torch.float64).to(dtype).repeat(repeat)
    if dtype.is_complex:
        t = torch.complex(t.real, t.real.flip(0)).conj()  # both parts, through the conj bit
    assert all_finite([t]) == bool(t.isfinite().all())
