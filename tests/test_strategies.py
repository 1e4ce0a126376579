"""gradprops.strategies: shapes, tensors (domains, values, layouts) and seeds."""

from __future__ import annotations

import math
import time

import pytest
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import gradprops
from gradprops import strategies as gst
from gradprops.strategies.domains import default_margin
from gradprops.strided import fresh_leaf

DETERMINISTIC = settings(database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def draws(strategy, n=200):
    """``n`` values drawn from ``strategy``, the same ones on every run."""
    values = []

    @settings(DETERMINISTIC, max_examples=n)
    @given(strategy)
    def collect(value):
        values.append(value)

    collect()
    return values


def find_one(strategy, condition, n=1000):
    return find(strategy, condition, settings=settings(DETERMINISTIC, max_examples=n))


def is_sliced(t):
    """A view into a larger buffer: a storage offset, or strides that are not row-major."""
    expected, inner = [], 1
    for n in reversed(t.shape):
        expected.insert(0, inner)
        inner *= n
    steps = any(s != e for n, s, e in zip(t.shape, t.stride(), expected) if n > 1)
    return t.storage_offset() > 0 or steps


def has_stride_zero(t):
    return any(s == 0 and n > 1 for n, s in zip(t.shape, t.stride()))


# -- shapes -------------------------------------------------------------------------------------


@given(st.data())
def test_shapes_honour_their_bounds(data):
    min_dims = data.draw(st.integers(0, 3))
    max_dims = data.draw(st.integers(min_dims, 5))
    min_side = data.draw(st.integers(0, 3))
    max_side = data.draw(st.integers(min_side, 7))
    shape = data.draw(gst.shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side))
    assert isinstance(shape, tuple)
    assert min_dims <= len(shape) <= max_dims
    assert all(min_side <= n <= max_side for n in shape)


def test_shapes_cover_0d_size_0_and_size_1_dims_and_more_than_64_elements():
    shapes = draws(gst.shapes(), n=300)
    assert () in shapes
    assert any(0 in s for s in shapes)
    assert any(1 in s and len(s) > 1 for s in shapes)
    assert any(math.prod(s) > 64 for s in shapes)
    empty = sum(math.prod(s) == 0 for s in shapes)
    assert empty < len(shapes) / 4  # size 0 is covered, not a third of the budget


def test_shapes_shrink_towards_small_shapes():
    assert find_one(gst.shapes(), lambda s: len(s) == 2) == (1, 1)
    assert math.prod(find_one(gst.shapes(), lambda s: math.prod(s) > 64)) <= 80  # 72 is the least possible
    assert find_one(gst.shapes(), lambda s: math.prod(s) == 0) in ((0,), (0, 1), (1, 0))


# -- tensors: dtype, leaf, layout ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex128])
@given(data=st.data())
def test_floating_tensors_are_leaves_that_require_grad(dtype, data):
    t = data.draw(gst.tensors(dtype=dtype))
    assert t.dtype == dtype and t.is_leaf and t.requires_grad and t.grad_fn is None
    assert torch.isfinite(t).all()


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@given(data=st.data())
def test_integer_and_bool_tensors_never_require_grad(dtype, data):
    t = data.draw(gst.tensors(dtype=dtype))
    assert t.dtype == dtype and t.is_leaf and not t.requires_grad


@given(gst.tensors(requires_grad=False))
def test_requires_grad_false(t):
    assert t.is_leaf and not t.requires_grad


@given(gst.tensors(shape=gst.shapes(min_dims=1, max_dims=1, min_side=7, max_side=7), dtype=torch.float32))
def test_shape_may_be_a_strategy_or_a_tuple(t):
    assert t.shape == (7,)


@given(gst.tensors(shape=(2, 0, 3)))
def test_fixed_size_0_shape(t):
    assert t.shape == (2, 0, 3) and t.requires_grad


@given(gst.tensors(shape=gst.shapes(min_dims=2, min_side=2), layouts=("permuted",)))
def test_permuted_is_non_contiguous(t):
    assert not t.is_contiguous() and t.storage_offset() == 0 and 0 not in t.stride()


@given(gst.tensors(shape=gst.shapes(min_side=1), layouts=("sliced",)))
def test_sliced_is_a_view_into_a_larger_buffer(t):
    assert is_sliced(t)
    assert t.untyped_storage().nbytes() > t.numel() * t.element_size()


@given(gst.tensors(shape=gst.shapes(min_dims=1, min_side=2), layouts=("expanded",)))
def test_expanded_has_a_stride_0_dim(t):
    assert has_stride_zero(t) and t.is_leaf and t.requires_grad


@given(gst.tensors(layouts=("contiguous",)))
def test_contiguous_is_contiguous_at_offset_0(t):
    assert t.is_contiguous() and t.storage_offset() == 0


@given(gst.tensors(shape=(1,), layouts=("permuted",)))
def test_a_layout_the_shape_cannot_show_degrades_to_contiguous(t):
    assert t.is_contiguous() and t.storage_offset() == 0


def test_every_layout_appears_by_default():
    seen = {(not t.is_contiguous(), t.storage_offset() > 0, has_stride_zero(t))
            for t in draws(gst.tensors(shape=(3, 4)), n=100)}
    assert (False, False, False) in seen  # contiguous
    assert any(offset for _, offset, _ in seen)  # sliced
    assert any(expanded for _, _, expanded in seen)
    assert any(noncontig and not offset and not expanded for noncontig, offset, expanded in seen)  # permuted


@given(gst.tensors(shape=gst.shapes(min_dims=1, min_side=1), layouts=("sliced",)))
def test_sliced_padding_holds_nan_so_out_of_view_reads_show(t):
    storage = t.detach().as_strided((t.untyped_storage().nbytes() // t.element_size(),), (1,), 0)
    assert storage.isnan().sum() == storage.numel() - t.numel()


@given(gst.tensors())
def test_layout_survives_fresh_leaf_and_backward_fills_grad(t):
    leaf = fresh_leaf(t)
    assert leaf.is_leaf and leaf.requires_grad
    assert (leaf.shape, leaf.stride(), leaf.storage_offset()) == (t.shape, t.stride(), t.storage_offset())
    assert torch.equal(leaf.detach(), t.detach())
    (leaf * 2).sum().backward()
    assert leaf.grad is not None and leaf.grad.shape == t.shape
    assert torch.equal(leaf.grad, torch.full_like(leaf.grad, 2))


# -- tensors: domains ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@given(data=st.data())
def test_values_respect_low_high_in_the_dtype(dtype, data):
    low = data.draw(st.floats(-50, 50).map(lambda v: round(v, 2)))
    high = data.draw(st.floats(low + 0.5, 100).map(lambda v: round(v, 2)))
    t = data.draw(gst.tensors(dtype=dtype, low=low, high=high))
    assert ((t >= low) & (t <= high)).all(), (low, high, t)


@given(gst.tensors(positive=True))
def test_positive_is_strictly_positive(t):
    assert (t > 0).all()


@given(gst.tensors(positive=True, low=-3.0, high=1e-3, dtype=torch.float32))
def test_positive_intersects_with_low(t):
    assert ((t > 0) & (t <= 1e-3)).all()


@given(gst.tensors(low=2.0, high=2.0))
def test_a_single_point_domain(t):
    assert (t == 2.0).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@given(data=st.data())
def test_excluded_points_are_avoided_by_the_default_margin(dtype, data):
    t = data.draw(gst.tensors(dtype=dtype, exclude=(0.0, 1.0)))
    x = t.detach().double()
    assert ((x - 0.0).abs() > default_margin(dtype, 0.0)).all()
    assert ((x - 1.0).abs() > default_margin(dtype, 1.0)).all()


@given(gst.tensors(exclude=(0.0, -2.0), margin=0.25, low=-3.0, high=3.0))
def test_excluded_points_are_avoided_by_a_given_margin(t):
    assert ((t.abs() > 0.25) & ((t + 2).abs() > 0.25)).all()


@given(gst.tensors(dtype=torch.int64, low=-2, high=5, exclude=(0,)))
def test_integer_domains(t):
    assert ((t >= -2) & (t <= 5) & (t != 0)).all() and not t.requires_grad


_BOUNDS = st.none() | st.integers(-300, 300) | st.floats(-1e4, 1e4)
_REAL_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int8, torch.uint8]


@given(st.data())
def test_any_domain_is_either_refused_by_name_or_respected(data):
    dtype = data.draw(st.sampled_from(_REAL_DTYPES))
    low, high = data.draw(_BOUNDS), data.draw(_BOUNDS)
    exclude = tuple(data.draw(st.lists(st.floats(-10, 10) | st.integers(-5, 5), max_size=3)))
    margin, positive = data.draw(st.none() | st.floats(0, 2)), data.draw(st.booleans())
    try:
        strategy = gst.tensors(dtype=dtype, low=low, high=high, exclude=exclude, margin=margin, positive=positive)
    except InvalidArgument as exc:
        assert isinstance(exc, gradprops.UsageError), repr(exc)
        assert any(name in str(exc) for name in ("low=", "high=", "positive=", "the domain")), str(exc)
        return
    x = data.draw(strategy).detach().double()
    assert (low is None or (x >= low).all()) and (high is None or (x <= high).all())
    assert not positive or (x > 0).all()
    for point in exclude:
        kept = default_margin(dtype, point) if margin is None else margin
        assert ((x - point).abs() > kept).all(), (point, kept, x)


def test_integer_domains_round_float_bounds_exactly():
    # Found by the test above: int64 against 7.9e-84 compared in float32, where the bound is 0.
    x = draws(gst.tensors(dtype=torch.int64, shape=(64,), low=7.9e-84), n=20)
    assert all(bool((t >= 1).all()) for t in x)


def test_default_margin_scales_with_eps_and_the_point():
    assert default_margin(torch.float64, 0.0) == 8 * torch.finfo(torch.float64).eps
    assert default_margin(torch.float32, 100.0) == pytest.approx(800 * torch.finfo(torch.float32).eps)
    assert default_margin(torch.int64, 3.0) == 0.0


# -- tensors: values that break backwards ------------------------------------------------------


def _all_values(tensors):
    return torch.cat([t.detach().reshape(-1).double() for t in tensors])


def test_specials_appear_zero_plus_minus_one_tiny_large_and_ties():
    tensors = draws(gst.tensors(shape=gst.shapes(min_dims=1, min_side=1)), n=200)
    values = _all_values(tensors)
    for special in (0.0, 1.0, -1.0, 0.5, -2.0):
        assert (values == special).any(), special
    assert ((values != 0) & (values.abs() < 1e-100)).any()  # tiny: its square underflows
    assert (values.abs() >= 1e3).any()
    assert (values == torch.finfo(torch.float64).eps).any()
    repeated = sum(t.numel() > 2 and t.detach().unique().numel() < t.numel() for t in tensors)
    assert repeated > 10


def test_specials_near_the_domain_edges_appear_and_respect_it():
    tensors = draws(gst.tensors(shape=(6,), low=-1.0, high=3.0, exclude=(0.0,), margin=0.01), n=200)
    values = _all_values(tensors)
    assert (values == -1.0).any() and (values == 3.0).any()  # the bounds themselves
    assert (values == 0.02).any() and (values == -0.02).any()  # just outside the margin
    assert not (values == 0.0).any()
    assert ((values >= -1) & (values <= 3) & (values.abs() > 0.01)).all()


def test_not_only_noise_small_integers_appear_in_bulk():
    tensors = draws(gst.tensors(shape=(50,)), n=100)
    assert any(bool((t == t.round()).all()) for t in tensors)  # the integers family
    assert any(t.detach().unique().numel() <= 3 for t in tensors)  # the few-values family


def test_complex_tensors_hold_complex_specials():
    values = _all_values([t.abs() for t in draws(gst.tensors(dtype=torch.complex128, shape=(4,)), n=100)])
    assert (values == 0).any() and (values == 1).any()


# -- tensors: speed -----------------------------------------------------------------------------


def _choices_per_draw(strategy, n=50):
    counts = []

    @settings(DETERMINISTIC, max_examples=n)
    @given(st.data())
    def count(data):
        before = len(data.conjecture_data.choices)
        data.draw(strategy)
        counts.append(len(data.conjecture_data.choices) - before)

    count()
    return counts


def test_hypothesis_choices_do_not_grow_with_the_number_of_elements():
    small = _choices_per_draw(gst.tensors(shape=(10,)))
    large = _choices_per_draw(gst.tensors(shape=(100_000,)))
    # layout (name + 3), family, generator seed, up to 4 specials (3 choices each) and the list's end
    assert max(small) <= 19 and max(large) <= 19
    assert max(large) <= max(small) + 3


def test_a_100k_element_draw_is_fast():
    times = []

    @settings(DETERMINISTIC, max_examples=30)
    @given(st.data())
    def timed(data):
        started = time.perf_counter()
        data.draw(gst.tensors(shape=(100, 1000)))
        times.append(time.perf_counter() - started)

    timed()
    times.sort()
    assert times[len(times) // 2] < 0.05  # about 2 ms here; loose for busy machines


# -- seeds --------------------------------------------------------------------------------------


OUTPUTS = [torch.zeros(3, 4), torch.zeros((), dtype=torch.float64), torch.zeros(0, 3),
           torch.zeros(5, dtype=torch.float16), torch.zeros(2, 2, dtype=torch.complex128)]


@given(st.data())
def test_seeds_match_each_output(data):
    outputs = data.draw(st.lists(st.sampled_from(OUTPUTS), min_size=1, max_size=3))
    seeds = data.draw(gst.seeds(tuple(outputs)))
    assert isinstance(seeds, tuple) and len(seeds) == len(outputs)
    for seed, out in zip(seeds, outputs):
        assert (seed.shape, seed.dtype, seed.device) == (out.shape, out.dtype, out.device)
        assert not seed.requires_grad
        assert torch.isfinite(seed).all()


def test_every_seed_kind_scale_and_layout_appears():
    seeds = [s for (s,) in draws(gst.seeds((torch.zeros(3, 4, dtype=torch.float64),)), n=300)]
    flat = [s.reshape(-1) for s in seeds]
    assert any((f == 0).all() for f in flat)  # zeros
    assert any((f == 1).all() for f in flat)  # ones
    assert any((f == 1).sum() == 1 and (f == 0).sum() == f.numel() - 1 for f in flat)  # one-hot
    assert any(f.unique().numel() > 6 and (f < 0).any() and (f > 0).any() for f in flat)  # signed random
    assert any(set(f.unique().tolist()) == {0.0, 1e3} for f in flat)  # scaled up
    assert any(set(f.unique().tolist()) <= {1e-3} for f in flat)  # scaled down
    assert any(has_stride_zero(s) for s in seeds)
    assert any(not s.is_contiguous() and not has_stride_zero(s) for s in seeds)
    assert any(s.is_contiguous() and s.storage_offset() == 0 for s in seeds)


def test_seeds_for_0d_and_empty_outputs():
    for out in (torch.zeros(()), torch.zeros(0), torch.zeros(2, 0, 3)):
        for (seed,) in draws(gst.seeds((out,)), n=30):
            assert seed.shape == out.shape and seed.dtype == out.dtype


def test_seeds_restricted_to_contiguous():
    for (seed,) in draws(gst.seeds((torch.zeros(3, 4),), layouts=("contiguous",)), n=30):
        assert seed.is_contiguous() and seed.storage_offset() == 0


def test_seeds_keep_the_outputs_layout_independent_of_its_values():
    y = torch.randn(4, 3).t()  # a non-contiguous output: the seed's own layout is drawn
    for (seed,) in draws(gst.seeds((y,)), n=20):
        assert seed.shape == y.shape


# -- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: gst.shapes(min_dims=-1), "min_dims must be at least 0, got min_dims=-1"),
        (lambda: gst.shapes(min_dims=3, max_dims=2), "min_dims=3 is larger than max_dims=2"),
        (lambda: gst.shapes(max_side=2.5), "max_side must be an integer, got max_side=2.5"),
        (lambda: gst.shapes(min_side=True), "min_side must be an integer"),
        (lambda: gst.shapes(max_dims=40), "max_dims=40"),
        (lambda: gst.tensors(dtype="float8"), "dtype='float8' names no torch dtype: pass e.g. torch.float32"),
        (lambda: gst.tensors(dtype=64), "dtype must be a torch.dtype such as torch.float64 (or its name"),
        (lambda: gst.tensors(dtype=torch.quint8), "dtype=torch.quint8 is not supported"),
        (lambda: gst.tensors(shape=(2, -1)), "shape must not have negative sizes"),
        (lambda: gst.tensors(shape=[2, 3]), "shape must be a tuple"),
        (lambda: gst.tensors(low=2, high=1), "low=2.0 is larger than high=1.0"),
        (lambda: gst.tensors(low=float("nan")), "low must be finite"),
        (lambda: gst.tensors(high="1"), "high must be a real number"),
        (lambda: gst.tensors(dtype=torch.float16, high=1e6), "high=1000000.0 is outside the range of torch.float16"),
        (lambda: gst.tensors(exclude=0.0), "exclude must be a tuple of numbers, got exclude=0.0"),
        (lambda: gst.tensors(exclude=(0.0, None)), "exclude[1] must be a real number"),
        (lambda: gst.tensors(margin=-1.0), "margin must not be negative"),
        (lambda: gst.tensors(positive=1), "positive must be True or False"),
        (lambda: gst.tensors(positive=True, high=-1.0), "positive=True leaves no values below high=-1.0"),
        (lambda: gst.tensors(low=0.0, high=0.0, exclude=(0.0,)), "no torch.float64 value lies in the domain"),
        (lambda: gst.tensors(dtype=torch.int64, low=0.2, high=0.8), "no torch.int64 value lies in the domain"),
        (lambda: gst.tensors(dtype=torch.complex128, low=0.0), "low does not apply to dtype=torch.complex128"),
        (lambda: gst.tensors(dtype=torch.bool, exclude=(0,)), "exclude does not apply to dtype=torch.bool"),
        (lambda: gst.tensors(layouts=("diagonal",)), "layouts has unknown names ['diagonal']"),
        (lambda: gst.tensors(layouts="sliced"), "write layouts=('sliced',) for one"),
        (lambda: gst.tensors(layouts=()), "layouts is empty"),
        (lambda: gst.tensors(requires_grad=None), "requires_grad must be True or False"),
        (lambda: gst.seeds(torch.zeros(3)), "outputs must be a sequence of tensors such as (y,)"),
        (lambda: gst.seeds((torch.zeros(3), 1.0)), "outputs[1] must be a tensor"),
        (lambda: gst.seeds((torch.zeros(3, dtype=torch.int64),)), "outputs[0] has dtype torch.int64"),
        (lambda: gst.seeds((torch.zeros(3),), layouts=("strided",)), "layouts has unknown names"),
    ],
)
def test_bad_arguments_raise_invalid_argument_naming_them(make, says):
    with pytest.raises(InvalidArgument) as info:
        make()  # raised when the strategy is made, not when first drawn from
    assert says in str(info.value)
    assert isinstance(info.value, gradprops.UsageError)


def test_a_shape_strategy_that_draws_a_bad_shape_is_named():
    with pytest.raises(gradprops.UsageError, match=r"the shape strategy drew \[2\]"):
        find_one(gst.tensors(shape=st.just([2])), lambda t: True)


@pytest.mark.parametrize("name", ["float32", "torch.float32", "float"])
def test_a_dtype_can_be_named_as_everywhere_else_in_gradprops(name):
    (x,) = find(gst.inputs("(n)", dtype=name), lambda _: True)
    assert x.dtype == torch.float32
    assert find(gst.tensors(dtype=name), lambda _: True).dtype == torch.float32
