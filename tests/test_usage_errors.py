"""Every mistake a caller can make gets a UsageError that says what to do instead."""

import math
import warnings

import pytest
import torch

import gradprops
from tests.broken_suite import NaiveSinc
from tests.functions import Sin

x64 = lambda *s: torch.randn(s, dtype=torch.float64).requires_grad_()  # noqa: E731



@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, (x64(2), 3.0)),
         "input 1 is a float, not a tensor"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, [1.0, 2.0]),
         "input 0 is a float, not a tensor"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, {x64(2)}),
         "inputs must be a tensor, a tuple of tensors or a dict of them"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, (torch.randn(3),)),
         "Mark the ones to differentiate with x.requires_grad_()"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.neg, (torch.arange(3),)),
         "integer or bool dtypes (torch.int64)"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.sin, ()),
         "no inputs were given"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.mul, (x64(2), torch.eye(2).to_sparse())),
         "input 1 is a torch.sparse_coo tensor: gradprops checks dense (strided) tensors only"),
        (lambda: gradprops.assert_ones_seed_matches_sum(lambda t: t.detach() * 2, (x64(3),)),
         "does not require grad"),
        (lambda: gradprops.assert_ones_seed_matches_sum(lambda t: t.sum().item(), (x64(3),)),
         "returned a float"),
        (lambda: gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(3),), torch.randn(4, dtype=torch.float64)),
         "seed v for output 0 has shape (4,) but the output has shape (3,)"),
        (lambda: gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(3),), torch.randn(3)),
         "has dtype torch.float32 but the output is torch.float64"),
        (lambda: gradprops.assert_vjp_matches_jacobian(
            lambda t: (t.sin(), t.cos()), (x64(3),), torch.randn(3, dtype=torch.float64)),
         "seed v has 1 tensor(s) but the function has 2 differentiable output(s)"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), seeds=(torch.ones(3, dtype=torch.float64),)),
         "seeds must be a pair (u, v)"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(1.0, math.nan)),
         "coefficient b must be a finite real number, got nan"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(math.inf, 1.0)),
         "coefficient a must be a finite real number, got inf"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=("2", 1.0)),
         "coefficient a must be a finite real number"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), coefficients=(1.0,)),
         "coefficients must be a pair"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(3),), rtol=-1.0),
         "rtol must be a non-negative number"),
        (lambda: gradprops.assert_ones_seed_matches_sum("torch.sin", (x64(3),)),
         "must be callable"),
        # the class, not its .apply: it is callable (it builds a Function object), so this was a confusing failure
        (lambda: gradprops.assert_ones_seed_matches_sum(Sin, (x64(3),)),
         "the function under test is the class Sin, not a function: pass Sin.apply"),
        (lambda: gradprops.assert_ones_seed_matches_sum(torch.nn.Tanh, (x64(3),)),
         "pass an instance, Tanh(...)"),
        (lambda: gradprops.check(Sin, (x64(3),), max_examples=1), "pass Sin.apply"),
        (lambda: gradprops.assert_vjp_matches_jacobian(
            torch.sin, (torch.randn(2, dtype=torch.complex128).requires_grad_(),),
            torch.randn(2, dtype=torch.complex128)),
         "does not support complex"),
    ],
)
def test_usage_error_says_what_to_do(call, says):
    with pytest.raises(gradprops.UsageError) as info:
        call()
    assert says in str(info.value)
    assert not isinstance(info.value, AssertionError)  # never mistaken for a finding


def test_integer_inputs_pass_through_next_to_a_differentiated_one():
    index = torch.tensor([2, 0])
    gradprops.assert_ones_seed_matches_sum(lambda t, i: t[i] * 2, (x64(3), index))


def test_outputs_without_grad_are_ignored():
    gradprops.assert_seed_linearity(
        lambda t: (t.sin(), t.argmax()), (x64(3),),
        seeds=(torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)),
    )


def _sin_check(**kwargs):
    from gradprops import strategies as gst

    return gradprops.check(torch.sin, gst.inputs("()"), **{"max_examples": 2, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"properties": 3}, "properties must be None (every property), a name"),
        ({"settings": "x"}, "settings must be a hypothesis.settings, got 'x' (str)"),
        ({"settings": {"max_examples": 5}}, "settings must be a hypothesis.settings"),
        ({"database_key": "node-id"}, "database_key must be bytes, got 'node-id' (str)"),
        ({"seed": math.nan}, "seed must be an integer (or None for a random one"),
        ({"seed": 1.0}, "seed must be an integer"),
        ({"seed": True}, "seed must be an integer"),
        ({"seed": "0"}, "seed must be an integer"),
        ({"max_examples": True}, "max_examples must be a positive integer"),
        ({"rtol": "1e-3"}, "rtol must be a non-negative number"),
        ({"atol": math.nan}, "atol must be a non-negative number"),
    ],
)
def test_check_refuses_bad_arguments_before_running(kwargs, says):
    with pytest.raises(gradprops.UsageError) as info:
        _sin_check(**kwargs)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("signature", "says"),
    [
        ("(m n)", "signature='(m n)' separates dims with a space ('m n'); separate them with commas, e.g. '(m,n)'"),
        ("(m, n),(n p)", "e.g. '(m, n),(n,p)'"),
        ("(m,n", "is not a gufunc-style signature"),
        ("(2?)", "makes the fixed dim '2?' optional"),
    ],
)
def test_malformed_signatures_are_usage_errors(signature, says):
    from gradprops import strategies as gst

    with pytest.raises(gradprops.UsageError) as info:
        gst.inputs(signature)
    assert says in str(info.value)


def test_spaces_around_commas_are_fine():
    from gradprops.strategies.signatures import parse_signature

    assert parse_signature(" ( m , n ), (n,p) ").cores == (("m", "n"), ("n", "p"))


f64 = torch.float64


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(2),), seeds=(torch.full((2,), math.nan, dtype=f64),
                                                                            torch.ones(2, dtype=f64))),
         "NaN or inf"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(2),), seeds=(torch.zeros(2, dtype=f64),
                                                                            torch.zeros(2, dtype=f64))),
         "all zero"),
        (lambda: gradprops.assert_seed_linearity(torch.sin, (x64(2),), coefficients=(0.0, 0.0)),
         "coefficients (0, 0)"),
        (lambda: gradprops.assert_purity(torch.sin, (x64(2),), seeds=(torch.zeros(2, dtype=f64),
                                                                    torch.zeros(2, dtype=f64))),
         "all zero"),
        (lambda: gradprops.assert_purity(torch.sin, (x64(2),), seeds=(torch.ones(2, dtype=f64),
                                                                    torch.full((2,), math.inf, dtype=f64))),
         "NaN or inf"),
        (lambda: gradprops.assert_second_order(torch.sin, (x64(2),), directions=torch.full((2,), math.nan, dtype=f64)),
         "NaN or inf"),
        (lambda: gradprops.assert_second_order(torch.sin, (x64(2),), directions=torch.zeros(2, dtype=f64)),
         "all zero"),
        (lambda: gradprops.assert_second_order(torch.sin, (x64(2),), second_seeds=(torch.zeros(2, dtype=f64),
                                                                                 torch.zeros(2, dtype=f64))),
         "all zero"),
        (lambda: gradprops.assert_finite_differences(torch.sin, (x64(2),), directions=torch.zeros(2, dtype=f64)),
         "all zero"),
        # one all-zero seed: backward's grads are 0 whatever its formula (found by a user trial: these passed)
        # (not where a zero seed still checks something: finite_grads' 0·inf, the forwards compiled, on
        # devices and in low precision, vmap's second sample, second order's seed part)
        *[(lambda h=helper: h(torch.sin, (x64(2),), seed=torch.zeros(2, dtype=f64)), "seed is all zero")
          for helper in (gradprops.assert_finite_differences, gradprops.assert_forward_reverse_adjoint)],
        (lambda: gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(2),), torch.zeros(2, dtype=f64)),
         "seed is all zero"),
        (lambda: gradprops.assert_vjp_matches_jacobian(lambda a: (a.sin(), a.cos()), (x64(2),),
                                                       (torch.zeros(2, dtype=f64), torch.zeros(2, dtype=f64))),
         "seed are all zero"),
    ],
)
def test_degenerate_seeds_and_directions_are_usage_errors_not_vacuous_passes(call, says):
    with pytest.raises(gradprops.UsageError) as info:
        call()
    assert says in str(info.value)


def test_a_zero_seed_still_finds_a_nan_from_zero_times_inf_in_finite_grads():
    x = torch.tensor([0.0, 0.5], dtype=f64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure):  # NaiveSinc's backward divides by x: NaN at 0, whatever the seed
        gradprops.assert_finite_grads(NaiveSinc.apply, (x,), seed=torch.zeros(2, dtype=f64))


def test_a_seed_of_an_empty_output_is_not_taken_for_an_all_zero_one():
    gradprops.assert_vjp_matches_jacobian(torch.sin, (x64(0),), torch.zeros(0, dtype=f64))


def test_what_a_helper_could_not_check_is_said_not_dropped():
    # second_order on a function that casts to float32: linearity in its dtype ran, finite differences did not
    with pytest.warns(gradprops.NotChecked, match="second-order finite differences skipped"):
        gradprops.assert_second_order(lambda t: t.float().sin(), (x64(3),))
    # a capped Jacobian: checked on a sample of rows, and the warning says how many
    big = torch.randn(300, dtype=f64, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match="256 of 300 rows"):
        gradprops.assert_vjp_matches_jacobian(torch.sin, (big,), torch.randn(300, dtype=f64))


def test_the_jacobian_of_a_huge_input_is_sampled_within_a_memory_budget():
    # 256 rows of 2e6 float64 elements would be 8 GiB; the budget holds 8 rows (and says so).
    big = torch.randn(2_000_000, dtype=f64, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match=r"8 of 2000000 rows, sampled at random \(256 MiB hold 8 rows"):
        gradprops.assert_vjp_matches_jacobian(torch.sin, (big,), torch.randn(2_000_000, dtype=f64))


def test_the_jacobian_helper_samples_other_rows_with_another_generator():
    class WrongInLastElement(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            grad = g * x.cos()
            grad[-1] = g[-1].abs() * x[-1].cos()  # right for the one-hot rows of J, wrong for a negative seed
            return grad

    x = torch.randn(300, dtype=f64, requires_grad=True)
    v = torch.randn(300, dtype=f64)
    v[-1] = -1.0
    outcomes = set()
    for seed in range(12):  # until both outcomes showed: a failure costs a second look at the rows' noise
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", gradprops.NotChecked)  # 256 of 300 rows: said, and expected
                gradprops.assert_vjp_matches_jacobian(WrongInLastElement.apply, (x,), v,
                                                      generator=torch.Generator().manual_seed(seed))
            outcomes.add("passed")
        except gradprops.PropertyFailure:
            outcomes.add("caught")
        if len(outcomes) == 2:
            break
    # each generator samples 256 of 300 rows: some include the last, some do not
    assert outcomes == {"caught", "passed"}
