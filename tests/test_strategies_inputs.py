"""gradprops.strategies.inputs: gufunc-style signatures, per-input arguments, the size distribution."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import gradprops
from gradprops import strategies as gst
from gradprops.strategies.signatures import parse_signature, signature_shapes
from tests.test_strategies import draws, find_one


def check_leaves(xs, dtypes=(torch.float64,)):
    for x, dtype in zip(xs, dtypes * len(xs) if len(dtypes) == 1 else dtypes):
        assert x.dtype == dtype and x.is_leaf
        assert x.requires_grad == (dtype.is_floating_point or dtype.is_complex)


@given(gst.inputs("()"))
def test_elementwise_is_any_shape_up_to_three_dims(xs):
    (x,) = xs
    check_leaves(xs)
    assert x.dim() <= 3 and sum(n > 6 for n in x.shape) <= 1  # one dim grows in a large example


def test_elementwise_covers_0d_empty_and_over_64_elements():
    shapes = [s for (s,) in draws(signature_shapes(parse_signature("()"), max_side=6, max_batch_dims=2), n=500)]
    assert () in shapes and any(0 in s for s in shapes) and max(map(len, shapes)) == 3
    big = sum(math.prod(s) > 64 for s in shapes) / len(shapes)
    assert big > 0.08, big  # about 16%: a bug above 64 elements shows within 100 examples


def test_elementwise_non_contiguous_inputs_shrink_to_two_elements():
    (x,) = find_one(gst.inputs("()"), lambda xs: not xs[0].is_contiguous())
    assert x.numel() == 2


@given(gst.inputs("(),()"))
def test_pairs_broadcast(xs):
    x, y = xs
    check_leaves(xs)
    torch.broadcast_shapes(x.shape, y.shape)  # raises if they do not
    (x * y).sum().backward()
    assert x.grad.shape == x.shape and y.grad.shape == y.shape


def test_pairs_cover_equal_shapes_size_1_dims_and_missing_dims():
    pairs = draws(signature_shapes(parse_signature("(),()"), max_side=6, max_batch_dims=2), n=200)
    assert any(a == b and len(a) >= 2 for a, b in pairs)
    assert any(len(a) != len(b) for a, b in pairs)
    assert any(len(a) == len(b) and a != b for a, b in pairs)  # a size-1 dim against a larger one


@given(gst.inputs("(m,n),(n,p)"))
def test_matmul_inner_dims_agree(xs):
    a, b = xs
    check_leaves(xs)
    assert a.dim() >= 2 and b.dim() >= 2 and a.dim() <= 4 and b.dim() <= 4
    assert a.shape[-1] == b.shape[-2]
    (a @ b).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


def test_matmul_has_batch_dims_and_an_empty_inner_dim_sometimes():
    pairs = draws(signature_shapes(parse_signature("(m,n),(n,p)"), max_side=6, max_batch_dims=2), n=300)
    assert any(len(a) > 2 for a, _ in pairs) and any(len(a) != len(b) for a, b in pairs)
    assert any(a[-1] == 0 and b[-2] == 0 for a, b in pairs)  # the shared n, emptied in both
    assert any(0 in a[:-2] for a, _ in pairs)  # an empty batch dim


_CORE = st.lists(st.sampled_from(["m", "n", "p", "2", "3"]), max_size=3)


@given(st.data())
def test_any_signature_gives_consistent_dims(data):
    cores = data.draw(st.lists(_CORE, min_size=1, max_size=3))
    signature = ",".join(f"({','.join(core)})" for core in cores)
    xs = data.draw(gst.inputs(signature, max_batch_dims=2))
    assert len(xs) == len(cores)
    sizes, batches = {}, []
    for x, core in zip(xs, cores):
        assert x.dim() <= len(core) + (3 if all(not c for c in cores) else 2), signature
        for name, size in zip(core, x.shape[x.dim() - len(core):]):
            if name.isdigit():
                assert size == int(name), (signature, x.shape)
            assert sizes.setdefault(name, size) == size, (signature, [tuple(x.shape) for x in xs])
        batches.append(x.shape[:x.dim() - len(core)])
    torch.broadcast_shapes(*batches)  # raises if the batch dims do not broadcast


@given(gst.inputs("(m?,n),(n,p?)->(m?,p?)"))
def test_optional_dims_as_for_matmul(xs):
    a, b = xs
    (a @ b).sum().backward()  # raises if the shapes do not multiply
    assert a.grad.shape == a.shape


@given(gst.inputs("(n),(n)"))
def test_vectors_share_their_last_dim(xs):
    x, y = xs
    assert x.dim() >= 1 and y.dim() >= 1 and x.shape[-1] == y.shape[-1]
    torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])


@given(gst.inputs("(b,4)", max_side=3, max_batch_dims=1, large=False))
def test_fixed_sizes_stay_fixed(xs):
    (x,) = xs
    assert x.shape[-1] == 4 and 2 <= x.dim() <= 3 and x.shape[-2] <= 3


@given(gst.inputs("( m , n ) -> ( m )", max_batch_dims=0))
def test_spaces_and_the_output_part_are_ignored(xs):
    (x,) = xs
    assert x.dim() == 2


@given(gst.inputs("(n),()", dtype=(torch.float64, torch.int64), low=(None, 0), high=(None, 3)))
def test_per_input_dtypes_and_bounds(xs):
    x, i = xs
    check_leaves(xs, (torch.float64, torch.int64))
    assert ((i >= 0) & (i <= 3)).all()
    assert x.shape[:-1] == i.shape or torch.broadcast_shapes(x.shape[:-1], i.shape)


@given(gst.inputs("(),()", exclude=((0.0,), None), margin=(0.5, None), positive=(False, True)))
def test_per_input_exclude_margin_and_positive(xs):
    x, y = xs
    assert (x.abs() > 0.5).all() and (y > 0).all()


@given(gst.inputs("(),()", exclude=(0.0, 1.0), margin=0.1, dtype=torch.float32))
def test_one_exclude_for_every_input(xs):
    for x in xs:
        assert (x.abs() > 0.1).all() and ((x - 1).abs() > 0.1).all() and x.dtype == torch.float32


@given(gst.inputs("(),()", layouts=("expanded",)))
def test_expanded_inputs_are_leaves_that_accumulate_grad(xs):
    for x in xs:
        if x.numel() and any(n > 1 for n in x.shape):  # else it cannot be expanded: contiguous
            assert 0 in x.stride()
    sum(x.sum() for x in xs).backward()
    assert all(x.grad is not None and x.grad.shape == x.shape for x in xs)


@given(gst.inputs("()", dtype=torch.complex128, requires_grad=False))
def test_requires_grad_false_for_every_input(xs):
    assert not xs[0].requires_grad and xs[0].is_leaf


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: gst.inputs(3), "signature must be a string such as '(m,n),(n,p)', got signature=3"),
        (lambda: gst.inputs("(m,n"), "signature='(m,n' is not a gufunc-style signature"),
        (lambda: gst.inputs("m,n"), "signature='m,n' is not a gufunc-style signature"),
        (lambda: gst.inputs("(3?)"), "only named dims can be optional"),
        (lambda: gst.inputs("()", max_side=0), "max_side must be at least 1, got max_side=0"),
        (lambda: gst.inputs("()", max_batch_dims=-1), "max_batch_dims must be at least 0"),
        (lambda: gst.inputs("()", dtype=(torch.float64, torch.float64)),
         "dtype has 2 entries but the signature has 1 inputs"),
        (lambda: gst.inputs("(),()", low=(0.0, 1.0, 2.0)), "low has 3 entries but the signature has 2 inputs"),
        (lambda: gst.inputs("(),()", low=(2.0, None), high=1.0), "low[0]=2.0 is larger than high[0]=1.0"),
        (lambda: gst.inputs("(),()", dtype=(torch.float64, 1)), "dtype[1] must be a torch.dtype"),
        (lambda: gst.inputs("(),()", exclude=((0.0,), ("a",))), "exclude[1][0] must be a real number"),
        (lambda: gst.inputs("()", low=1.0, high=0.0), "low=1.0 is larger than high=0.0"),
        (lambda: gst.inputs("()", layouts=("transposed",)), "layouts has unknown names ['transposed']"),
    ],
)
def test_bad_arguments_raise_invalid_argument_naming_them(make, says):
    with pytest.raises(InvalidArgument) as info:
        make()
    assert says in str(info.value)
    assert isinstance(info.value, gradprops.UsageError)


def test_inputs_are_drawn_on_the_device_asked_for_in_every_layout() -> None:
    from hypothesis import find

    for layout in ("contiguous", "permuted", "sliced", "expanded"):
        (x,) = find(gst.inputs("(m,n)", device="cpu", layouts=[layout]), lambda xs: xs[0].numel() > 1)
        assert x.device.type == "cpu" and x.is_leaf and x.requires_grad
    assert find(gst.tensors(shape=(2,), device=torch.device("cpu")), lambda t: True).device.type == "cpu"


@pytest.mark.parametrize(("device", "message"), [
    ("meta", "holds no values to compare"),
    ("nope", "must be a torch.device or a name such as 'cpu'"),
    pytest.param("cuda", "no cuda device is available here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_device_that_cannot_hold_values_here_is_a_usage_error(device: str, message: str) -> None:
    with pytest.raises(gradprops.UsageError, match=message):
        gst.inputs("(n)", device=device)
    with pytest.raises(gradprops.UsageError, match=message):
        gst.tensors(device=device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (not run on the project's CI machine)")
def test_inputs_on_cuda_hold_the_values_drawn_on_the_cpu() -> None:
    from hypothesis import find

    (x,) = find(gst.inputs("(n)", device="cuda", layouts=["sliced"]), lambda xs: xs[0].numel() > 2)
    assert x.device.type == "cuda" and x.is_leaf and x.requires_grad
