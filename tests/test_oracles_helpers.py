"""The oracle helpers: each broken Function is caught by the helper for its class, named correctly,
and correct Functions (a kink, a removable singularity, several inputs and outputs) pass them all."""

from __future__ import annotations

import warnings

import pytest
import torch

import gradprops
from gradprops.properties.chain_rule import Downstream
from tests import broken_suite as bs
from tests.functions import Sin

f64 = torch.float64


def leaf(*shape: int, seed: int = 0, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)).requires_grad_()


def rand(*shape: int, seed: int = 1, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def failure(helper, *args, **kwargs) -> gradprops.PropertyFailure:
    with pytest.raises(gradprops.PropertyFailure) as info:
        helper(*args, **kwargs)
    return info.value


# --- finite differences ---------------------------------------------------------------------------


def test_wrong_formula_fails_finite_differences_and_says_what_was_compared():
    f = failure(gradprops.assert_finite_differences, bs.WrongFormula.apply, (leaf(3, 4),), seed=rand(3, 4))
    text = str(f)
    assert f.property == "finite_differences"
    assert "property 'finite_differences' failed" in text
    assert "⟨backward(v), d⟩" in text and "⟨v, J·d⟩" in text and "central differences" in text
    assert "Compared one scalar" in text and "allowed" in text
    assert "step h = " in text
    assert "Tolerance: rtol=0.0001, atol=1e-05" in text
    assert "d (input 0): shape (3, 4)" in text  # the direction is part of the case
    assert "gradprops.assert_finite_differences(fn, inputs, seed=v, directions=d)" in text
    assert abs(f.max_abs_diff) > 1e-3


def test_the_repro_snippet_reproduces_a_finite_difference_failure():
    f = failure(gradprops.assert_finite_differences, bs.WrongFormula.apply, (leaf(2),), seed=rand(2))
    snippet = str(f).split("How to reproduce:\n", 1)[1]
    source = "\n".join(line[2:] for line in snippet.splitlines())
    with pytest.raises(gradprops.PropertyFailure, match="finite_differences"):
        exec(source.replace("fn = ...", "fn = WrongFormula.apply  #"), {"WrongFormula": bs.WrongFormula})


@pytest.mark.parametrize(
    ("broken", "inputs"),
    [
        (bs.WrongOn0d, lambda: (leaf(),)),
        (bs.WrongOnOddSize, lambda: (leaf(3),)),
        (bs.WrongOver64, lambda: (leaf(5, 13),)),
        (bs.WrongOnNonContiguous, lambda: (leaf(4, 3).detach().t().requires_grad_(),)),
    ],
    ids=["0-d", "odd size", "over 64", "non-contiguous"],
)
def test_bugs_on_some_inputs_fail_finite_differences_on_those_inputs(broken, inputs):
    f = failure(gradprops.assert_finite_differences, broken.apply, inputs())
    assert f.property == "finite_differences"


def test_a_wrong_parameter_grad_is_blamed_on_the_parameter():
    f = failure(gradprops.assert_finite_differences, bs.linear_wrong_weight_grad(), (leaf(5, 3),))
    text = str(f)
    assert "Per variable" in text
    assert "parameter 'weight': backward" in text and "← differs most" in text
    weight_line = next(line for line in text.splitlines() if "parameter 'weight': backward" in line)
    assert "← differs most" in weight_line
    bias_line = next(line for line in text.splitlines() if "parameter 'bias': backward" in line)
    assert "(agrees)" in bias_line


def test_ignoring_the_second_output_fails_finite_differences():
    f = failure(gradprops.assert_finite_differences, bs.IgnoresSecondOutput.apply, (leaf(4),),
                seed=(rand(4), rand(4, seed=2)))
    assert f.property == "finite_differences"
    assert "seed v (output 1)" in str(f)


def test_a_stale_cache_passes_on_the_first_call_and_fails_on_the_next():
    bs.StaleCache.cache.clear()
    gradprops.assert_finite_differences(bs.StaleCache.apply, (leaf(3, seed=1),))
    f = failure(gradprops.assert_finite_differences, bs.StaleCache.apply, (leaf(3, seed=2),))
    assert f.property == "finite_differences"


def test_one_wrong_entry_among_a_thousand_is_found_by_both_oracles():
    x = leaf(1000)
    f = failure(gradprops.assert_forward_reverse_adjoint, bs.OneWrongEntry.apply, (x,))
    assert f.property == "forward_reverse_adjoint"
    with pytest.warns(gradprops.NotChecked, match="256 of 1000 rows, sampled at random"):
        gradprops.assert_vjp_matches_jacobian(bs.OneWrongEntry.apply, (x,), rand(1000))  # J has the needle too
    # finite differences see it whenever the needle's term stands out of the sum's tolerance
    caught = 0
    for s in range(5):
        try:
            gradprops.assert_finite_differences(bs.OneWrongEntry.apply, (leaf(10, seed=s),), seed=rand(10, seed=s))
        except gradprops.PropertyFailure:
            caught += 1
    assert caught >= 4


def test_float32_targets_are_differenced_in_float64():
    x = leaf(3, 4, dtype=torch.float32)
    # and a correct one passes without a warning: how it was checked is no NotChecked (a user's -W error
    # run failed every correct float32 function on it); check's report lists it (test_oracles_check)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradprops.assert_finite_differences(torch.sin, (x,))
    f = failure(gradprops.assert_finite_differences, bs.WrongFormula.apply, (x,))
    assert "run in torch.float32" in str(f)


def test_a_function_that_refuses_float64_is_skipped_with_the_reason():
    def float32_only(x):
        if x.dtype != torch.float32:
            raise TypeError("float32 only")
        return x.sin()

    with pytest.warns(gradprops.NotChecked, match=r"finite differences need float64.*TypeError: float32 only"):
        gradprops.assert_finite_differences(float32_only, (leaf(3, dtype=torch.float32),))
    with pytest.warns(gradprops.NotChecked, match=r"returns torch\.float32 on float64 inputs"):
        gradprops.assert_finite_differences(lambda x: x.float().sin(), (leaf(3),))


@pytest.mark.parametrize(
    ("fn", "point"),
    [
        (torch.relu, [0.0, 1.0, -2.0]),
        (torch.abs, [0.0, 0.5]),
        (torch.floor, [1.0, 2.5]),
        (lambda x: torch.where(x > 0.5, x, -x), [0.5, 0.1]),
        (torch.sqrt, [0.0, 4.0]),
        (torch.sin, [1e300, 1.0]),
    ],
    ids=["relu at 0", "abs at 0", "floor at an integer", "jump at 0.5", "sqrt at 0", "sin at 1e300"],
)
def test_kinks_jumps_and_hopeless_steps_are_skipped_never_failed(fn, point):
    x = torch.tensor(point, dtype=f64, requires_grad=True)
    for direction in (torch.ones(len(point), dtype=f64), -torch.ones(len(point), dtype=f64), None):
        with warnings.catch_warnings():  # skipped with a reason is fine: the point is that it never fails
            warnings.simplefilter("ignore", gradprops.NotChecked)
            gradprops.assert_finite_differences(fn, (x,), seed=torch.ones(len(point), dtype=f64),
                                                directions=direction)


def test_kink_skip_reason_says_not_smooth():
    x = torch.tensor([0.0, 1.0], dtype=f64, requires_grad=True)
    # relu at 0 is not the caller's mistake: not a UsageError, and not a bare pass either
    with pytest.warns(gradprops.NotChecked, match="finite_differences was not checked: not smooth along d"):
        gradprops.assert_finite_differences(bs.Relu.apply, (x,), seed=torch.ones(2, dtype=f64),
                                            directions=torch.ones(2, dtype=f64))


# --- forward/reverse adjoint --------------------------------------------------------------------


def test_adjoint_catches_a_wrong_backward_next_to_a_right_jvp():
    f = failure(gradprops.assert_forward_reverse_adjoint, bs.WrongFormulaWithJvp.apply, (leaf(2, 3),))
    text = str(f)
    assert f.property == "forward_reverse_adjoint"
    assert "⟨v, JVP(d)⟩" in text and "forward mode" in text
    assert "defines its own jvp" in text


def test_adjoint_is_not_applicable_without_a_jvp():
    with pytest.warns(gradprops.NotChecked, match=r"forward-mode AD is not available.*jvp"):
        gradprops.assert_forward_reverse_adjoint(bs.WrongFormula.apply, (leaf(3),))


def test_adjoint_handles_modules_complex_and_expanded_inputs():
    gradprops.assert_forward_reverse_adjoint(torch.nn.Linear(3, 2).double(), (leaf(4, 3),))
    z = torch.randn(3, dtype=torch.complex128, requires_grad=True)
    gradprops.assert_forward_reverse_adjoint(lambda t: t * t.conj() + t.exp(), (z,))
    expanded = torch.randn(3, dtype=f64).expand(2, 3).requires_grad_()
    gradprops.assert_forward_reverse_adjoint(torch.sin, (expanded,))


# --- purity -------------------------------------------------------------------------------------


def test_writing_into_the_seed_fails_purity():
    f = failure(gradprops.assert_purity, bs.WritesIntoSeed.apply, (leaf(3),))
    assert f.property == "purity"
    assert "backward wrote into its seed (grad_output) in place" in str(f)


def test_forward_writing_into_its_input_fails_purity():
    x = leaf(3)
    f = failure(gradprops.assert_purity, bs.WritesIntoInput.apply, (x,))
    assert f.property == "purity"
    assert "forward wrote into input 0 in place" in str(f)
    assert torch.equal(x, leaf(3))  # the caller's tensor was never handed to forward


def test_forward_writing_into_a_fixed_input_fails_purity():
    def scales_its_weight(x, w):
        w.mul_(2)
        return x * w

    f = failure(gradprops.assert_purity, scales_its_weight, (leaf(3), torch.ones(3, dtype=f64)))
    assert "forward wrote into input 1 (held fixed) in place" in str(f)


def test_state_kept_on_the_class_fails_purity_through_a_second_graph():
    f = failure(gradprops.assert_purity, bs.StateOnClass.apply, (leaf(4),))
    text = str(f)
    assert f.property == "purity"
    assert "building a second graph" in text and "state outside ctx" in text
    assert "x2 = 0.5 · flip(x)" in text


def _counting(results):
    """A Function y = 3x whose backward multiplies by ``results(call number)``: history-dependent."""

    class Counted(torch.autograd.Function):
        calls = 0

        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            Counted.calls += 1
            return grad * results(Counted.calls)

    return Counted.apply


def test_a_nondeterministic_backward_fails_purity():
    drifting = _counting(lambda n: 3 + 1e-3 * n)  # a call counter leaks into the result
    f = failure(gradprops.assert_purity, drifting, (leaf(3),))
    assert "two backward passes of the same graph" in str(f)


def test_a_backward_that_reuses_its_output_buffer_fails_purity():
    class Reuses(torch.autograd.Function):
        buffer = None

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            if Reuses.buffer is None or Reuses.buffer.shape != x.shape:
                Reuses.buffer = torch.empty_like(x)
            return torch.mul(grad, x.cos(), out=Reuses.buffer)

    f = failure(gradprops.assert_purity, Reuses.apply, (leaf(3),), seeds=(rand(3), rand(3, seed=2)))
    assert "were overwritten by a later backward" in str(f)


def test_a_backward_that_alternates_between_two_results_fails_purity():
    # Purity's single exact comparison takes the VJPs in the order u, v and .grad in the order v, u:
    # a backward alternating between two results cannot add up to the expected sum.
    toggle = _counting(lambda n: 3.0 if n % 2 else 3.0000001)
    f = failure(gradprops.assert_purity, toggle, (leaf(5),), seeds=(rand(5), rand(5, seed=2)))
    assert "two backward passes of the same graph" in str(f)


def test_a_one_off_glitch_that_does_not_happen_again_still_fails_purity():
    once = _counting(lambda n: 3.0 * (1 + 1e-12) if n == 2 else 3.0)  # only the 2nd call ever is off
    f = failure(gradprops.assert_purity, once, (leaf(5),), seeds=(rand(5), rand(5, seed=2)))
    assert "repeated one check at a time on a fresh graph, it agreed" in str(f)


def test_a_forward_that_writes_into_its_input_is_not_blamed_on_backward():
    # Only purity checks forward; the other helpers' graphs are unguarded and must not take the
    # input forward changed for backward's doing.
    def doubles_its_input(x):
        x.mul_(2)
        return x.sin()

    gradprops.assert_seed_linearity(lambda x: doubles_its_input(x * 1), (leaf(3),))


def test_a_conjugate_seed_is_not_taken_for_the_seed_it_views():
    x = leaf(3, dtype=torch.complex128)
    u = rand(3, dtype=torch.complex128) + 1j * rand(3, seed=3)
    gradprops.assert_seed_linearity(lambda t: t * (2 + 1j), (x,), seeds=(u, u.conj()))


def test_torch_stack_with_a_repeating_seed_shares_grads_between_inputs_and_purity_says_so():
    # A torch finding (pytorch/pytorch#34082): AccumulateGrad keeps unbind's views of the seed as
    # x.grad and y.grad; with a seed repeating along the stacked dim they are one piece of memory.
    v = torch.ones(3, dtype=f64).expand(2, 3)
    f = failure(gradprops.assert_purity, lambda x, y: torch.stack((x, y)), (leaf(3), leaf(3, seed=1)),
                seeds=(rand(2, 3), v))
    assert "`.grad` does not accumulate" in str(f)
    assert "the .grad of input 0 and input 1 are one piece of memory" in str(f)


def test_purity_with_default_seeds_finds_the_stack_aliasing_check_finds():
    # The helper's default second seed repeats along dim 0 (stride 0), as check() draws among others.
    f = failure(gradprops.assert_purity, lambda x, y: torch.stack((x, y)), (leaf(3), leaf(3, seed=1)))
    assert "the .grad of input 0 and input 1 are one piece of memory" in str(f)


def test_a_view_op_passes_purity_although_autograd_accumulates_into_its_seed():
    # backward of a view hands the seed straight through; AccumulateGrad keeps it as .grad and adds
    # the next backward into it in place: purity must give autograd copies, not its own seeds.
    gradprops.assert_purity(lambda x: x.view(3), (leaf(3),))


def test_grad_accumulation_is_checked_with_real_backward_calls():
    class AccumulatesWrong(torch.autograd.Function):
        """Right on a fresh graph; a second backward of the same graph returns double."""

        @staticmethod
        def forward(ctx, x):
            ctx.calls = 0
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            ctx.calls += 1
            return grad * 3 * ctx.calls

    with pytest.raises(gradprops.PropertyFailure, match="purity"):
        gradprops.assert_purity(AccumulatesWrong.apply, (leaf(3),))


# --- chain rule ---------------------------------------------------------------------------------


def test_chain_rule_catches_a_stride_blind_backward_and_shows_the_seed_layout():
    h = Downstream(steps=("transpose",), reduce="weighted_sum", weight_seed=3)
    f = failure(gradprops.assert_chain_rule, bs.IgnoresSeedStrides.apply, (leaf(3, 4),), h)
    text = str(f)
    assert f.property == "chain_rule"
    assert "h(y) = (w * y.transpose(0, -1)).sum()" in text
    assert "the seed autograd hands backward: shape (3, 4)" in text and "non-contiguous" in text
    assert "gradprops.properties.chain_rule.Downstream(steps=('transpose',)" in text


def test_chain_rule_catches_a_stride_blind_backward_on_a_broadcast_seed():
    h = Downstream(reduce="weighted_column_sums")  # ∂h/∂y is w expanded along dim 0: strides (0, 1)
    f = failure(gradprops.assert_chain_rule, bs.IgnoresSeedStrides.apply, (leaf(3, 4),), h)
    assert f.property == "chain_rule"
    assert "strides (0, 1) expanded (stride 0)" in str(f)


def test_chain_rule_compares_backward_with_itself_so_an_ignored_seed_is_for_linearity():
    gradprops.assert_chain_rule(bs.IgnoresSeed.apply, (leaf(5),))


def test_chain_rule_repro_snippet_runs():
    h = Downstream(steps=("transpose", "sin"), reduce="mean")
    f = failure(gradprops.assert_chain_rule, bs.IgnoresSeedStrides.apply, (leaf(2, 3),), h)
    snippet = str(f).split("How to reproduce:\n", 1)[1]
    source = "\n".join(line[2:] for line in snippet.splitlines())
    with pytest.raises(gradprops.PropertyFailure, match="chain_rule"):
        exec(source.replace("fn = ...", "fn = IgnoresSeedStrides.apply  #"),
             {"IgnoresSeedStrides": bs.IgnoresSeedStrides})


def test_any_callable_h_is_accepted_and_h_must_return_a_scalar():
    gradprops.assert_chain_rule(torch.exp, (leaf(3),), lambda ys: (ys[0] ** 3).sum())
    with pytest.raises(gradprops.UsageError, match="real scalar"):
        gradprops.assert_chain_rule(torch.exp, (leaf(3),), lambda ys: ys[0])


# --- finite where smooth ------------------------------------------------------------------------


def test_nan_grad_at_a_smooth_point_fails_finite_grads_with_the_expected_value():
    x = torch.tensor([0.0, 0.5], dtype=f64, requires_grad=True)
    f = failure(gradprops.assert_finite_grads, bs.NaiveSinc.apply, (x,))
    text = str(f)
    assert f.property == "finite_grads"
    assert "1 of 2 elements of the grad of input 0 are NaN or inf; the first is at index (0,)" in text
    assert "backward(v) = nan" in text and "should be ≈ 0" in text


@pytest.mark.parametrize(
    ("fn", "point"),
    [
        (torch.sqrt, 0.0),
        (lambda x: x.abs().sqrt(), 0.0),
        (lambda x: torch.sign(x) * x.abs().pow(1 / 3), 0.0),
        (torch.sqrt, -1.0),
    ],
    ids=["sqrt at 0", "sqrt|x| at 0 (cusp)", "cbrt at 0 (unbounded)", "sqrt of a negative"],
)
def test_nan_grads_where_the_function_is_not_smooth_or_finite_are_skipped(fn, point):
    x = torch.tensor([point, 0.5], dtype=f64, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match="finite_grads was not checked"):
        gradprops.assert_finite_grads(fn, (x,), seed=torch.ones(2, dtype=f64))


# --- second order -------------------------------------------------------------------------------


def test_wrong_double_backward_fails_second_order_only():
    x = leaf(3)
    for helper in (gradprops.assert_seed_linearity, gradprops.assert_finite_differences, gradprops.assert_purity):
        helper(bs.WrongDoubleBackward.apply, (x,))
    f = failure(gradprops.assert_second_order, bs.WrongDoubleBackward.apply, (x,))
    text = str(f)
    assert f.property == "second_order"
    assert "double backward does not agree with finite differences of the first-order VJP" in text
    assert "t1 (input 0)" in text
    snippet = text.split("How to reproduce:\n", 1)[1]
    source = "\n".join(line[2:] for line in snippet.splitlines())
    with pytest.raises(gradprops.PropertyFailure, match="second_order"):
        exec(source.replace("fn = ...", "fn = WrongDoubleBackward.apply  #"),
             {"WrongDoubleBackward": bs.WrongDoubleBackward})


class _CosTimesAbsSeed(torch.autograd.Function):
    """grad * cos(x); its backward reads its seed through abs() in the grad of x: not linear in it."""

    @staticmethod
    def forward(ctx, grad, x):
        ctx.save_for_backward(grad, x)
        return grad * x.cos()

    @staticmethod
    def backward(ctx, gg):
        grad, x = ctx.saved_tensors
        return gg * x.cos(), -gg.abs() * grad * x.sin()


class _SinNonlinearDoubleBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _CosTimesAbsSeed.apply(grad, x)


def test_a_double_backward_nonlinear_in_its_seed_is_not_taken_for_rounding_noise():
    # When linearity fails, second_order measures double backward's rounding noise by moving x a
    # relative 1e-7 (for group_norm of a constant row, where it is all noise): a real
    # nonlinearity barely moves, and must still be reported.
    f = failure(gradprops.assert_second_order, _SinNonlinearDoubleBackward.apply, (leaf(4),))
    assert "double backward is not linear in its seed" in str(f)


def test_the_jacobian_property_takes_cancelling_rows_for_rounding_noise():
    # layer_norm of 2-element rows is ±1 whatever x is: J's rows are terms of size 1/σ (10 here)
    # cancelling to ~0, backward(ones) is exactly 0 and vᵀJ 1.4e-14 of noise (the main run's false alarm).
    x = torch.tensor([[-1.5459917948933903, -0.756901272202805], [-0.7249136147790046, -0.9264764024475312]],
                     dtype=f64, requires_grad=True)
    gradprops.assert_vjp_matches_jacobian(lambda t: torch.nn.functional.layer_norm(t, t.shape[-1:]), (x,),
                                          torch.ones(2, 2, dtype=f64))
    # KL divergence of two constant rows: at its minimum, J is exactly 0 and backward 1.7e-17 of
    # noise; scaling x uniformly would keep the rows constant, so the noise is measured by moving
    # each element by its own amount (the main run's seed-3 false alarm).
    def kl(a, b):
        return torch.nn.functional.kl_div(a.log_softmax(-1), b.softmax(-1), reduction="batchmean")

    x = torch.tensor([1.0], dtype=f64).as_strided((1, 3), (1, 0)).detach().requires_grad_()
    y = torch.full((1, 3), 0.5470268713156996, dtype=f64, requires_grad=True)
    gradprops.assert_vjp_matches_jacobian(kl, (x, y), torch.tensor(0.9401060036131061, dtype=f64))
    zeros = torch.zeros(1, 3, dtype=f64, requires_grad=True)  # zeros must move too (seed 5)
    gradprops.assert_vjp_matches_jacobian(kl, (zeros, zeros), torch.tensor(0.9401060036131061, dtype=f64))


def test_linearity_and_the_adjoint_take_cancellation_noise_for_what_it_is():
    # The main runs' seed-2 and seed-3 false alarms: every side is rounding noise of terms that cancel.
    x = torch.tensor([[-1.5459917948933903, -0.756901272202805], [-0.7249136147790046, -0.9264764024475312]],
                     dtype=f64, requires_grad=True)
    gradprops.assert_seed_linearity(lambda t: torch.nn.functional.layer_norm(t, t.shape[-1:]), (x,),
                                    seeds=(torch.ones(2, 2, dtype=f64), torch.full((2, 2), 1e-3, dtype=f64)),
                                    coefficients=(1.0, -1.0))

    def kl(a, b):
        return torch.nn.functional.kl_div(a.log_softmax(-1), b.softmax(-1), reduction="batchmean")

    a = torch.tensor([[1.0, 0.0]], dtype=f64, requires_grad=True)
    b = torch.tensor([[1.0, 0.0]], dtype=f64, requires_grad=True)
    d = (torch.tensor([[0.026949165162805322, -0.4343835866205872]], dtype=f64),
         torch.tensor([[0.5074280962438176, -0.315850602375513]], dtype=f64))
    gradprops.assert_forward_reverse_adjoint(kl, (a, b), seed=torch.tensor(0.9401060036131061, dtype=f64),
                                             directions=d)
    # The same at 1e-250 of the scale: the noise is measured in float64 (float32 held it as 0).
    gradprops.assert_forward_reverse_adjoint(lambda a, b: 1e-250 * kl(a, b), (a, b),
                                             seed=torch.tensor(0.9401060036131061, dtype=f64), directions=d)


def test_second_order_takes_double_backward_rounding_noise_for_what_it_is():
    # group_norm of a constant row: double backward cancels to noise of 1e-7 that no a-priori scale
    # predicted (the catalogue's false alarm, shrunk); the measured wobble accounts for it.
    x = torch.tensor([[[1000.0], [1000.0]]], dtype=f64, requires_grad=True)
    v = torch.tensor([[[0.9401060036131061], [0.4156397287995759]]], dtype=f64)
    t1 = torch.tensor([[[0.026949165162805322], [-0.4343835866205872]]], dtype=f64)
    t2 = torch.tensor([[[0.5074280962438176], [-0.315850602375513]]], dtype=f64)
    # (Its finite differences cannot judge this point, a variance of 0 under sqrt(var + eps), and say so.)
    with pytest.warns(gradprops.NotChecked, match="second-order finite differences skipped: not smooth"):
        gradprops.assert_second_order(lambda x: torch.nn.functional.group_norm(x, 1), (x,), seed=v,
                                      second_seeds=(t1, t2), coefficients=(1.5, -0.75))


def test_torchs_pow_double_backward_at_a_zero_exponent_fails_second_order():
    # A torch finding (the catalogue's pow / second_order): pow's backward masks y == 0 with
    # torch.where, so ∂/∂y of ∂(x^y)/∂x comes out 0 there instead of 1/x.
    x = torch.tensor([0.547, 1.88], dtype=f64, requires_grad=True)
    y = torch.tensor([0.0, 1.0], dtype=f64, requires_grad=True)
    f = failure(gradprops.assert_second_order, torch.pow, (x, y))
    assert "double backward does not agree with finite differences" in str(f)
    gradprops.assert_second_order(torch.pow, (x, y + 1e-3))  # off the mask, it agrees


def test_torchs_logsigmoid_double_backward_at_large_x_fails_second_order():
    # A torch finding (the catalogue's logsigmoid / second_order, main runs at seeds 16 and 20):
    # σ(x)(1 - σ(x)) cancels to 0 once σ(x) rounds to 1, where the second derivative is -e^-x.
    f = failure(gradprops.assert_second_order, torch.nn.functional.logsigmoid,
                (torch.tensor([40.0], dtype=f64, requires_grad=True),))
    assert "double backward does not agree with finite differences" in str(f)
    gradprops.assert_second_order(torch.nn.functional.logsigmoid, (torch.tensor([5.0], dtype=f64, requires_grad=True),))


def test_torchs_logcumsumexp_double_backward_where_the_seed_is_zero_fails_second_order():
    # A torch finding (the catalogue's logcumsumexp / second_order, float16 seed 0 of the false-alarm
    # benchmark): backward takes log(grad_output) part by part, so its derivative in grad_output is
    # NaN where grad_output is exactly 0.
    x = torch.tensor([1.0, 2.0, 0.5], dtype=f64, requires_grad=True)
    v = torch.tensor([0.3, 0.0, -0.2], dtype=f64)
    fn = lambda t: torch.logcumsumexp(t, 0)  # noqa: E731
    f = failure(gradprops.assert_second_order, fn, (x,), seed=v)
    assert "double backward with respect to the seed (grad_output) is NaN or inf" in str(f)
    gradprops.assert_second_order(fn, (x,), seed=v + 0.1)  # no zero in the seed: it agrees


def test_a_nan_double_backward_where_backward_is_smooth_fails_second_order():
    x = torch.tensor([0.0, 0.5], dtype=f64, requires_grad=True)
    gradprops.assert_finite_grads(bs.SincWhereTrap.apply, (x,))  # first order is right, and finite
    f = failure(gradprops.assert_second_order, bs.SincWhereTrap.apply, (x,), seed=torch.ones(2, dtype=f64))
    text = str(f)
    assert f.property == "second_order"
    assert "double backward returned NaN/inf where the first-order backward is finite and smooth" in text
    assert "DB(t1) of input 0 at index (0,)" in text
    gradprops.assert_second_order(bs.Sinc.apply, (x,), seed=torch.ones(2, dtype=f64))  # the safe twin passes


def test_once_differentiable_is_not_applicable():
    with pytest.warns(gradprops.NotChecked, match="once_differentiable"):
        gradprops.assert_second_order(bs.OnceDifferentiableSin.apply, (leaf(3),))


def test_a_backward_outside_autograd_has_no_double_backward():
    class Detached(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return (grad * x.cos()).detach()

    with pytest.warns(gradprops.NotChecked, match="double backward is not available"):
        gradprops.assert_second_order(Detached.apply, (leaf(3),))


def test_second_order_in_float32_runs_on_float64_copies():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # how it checked is not a NotChecked
        gradprops.assert_second_order(torch.tanh, (leaf(3, dtype=torch.float32),))


# --- no false alarms ----------------------------------------------------------------------------

HELPERS = {
    "purity": lambda fn, x: gradprops.assert_purity(fn, x),
    "finite_differences": lambda fn, x: gradprops.assert_finite_differences(fn, x),
    "finite_grads": lambda fn, x: gradprops.assert_finite_grads(fn, x),
    "chain_rule": lambda fn, x: gradprops.assert_chain_rule(fn, x, Downstream(("transpose", "tanh"), "mean")),
    "second_order": lambda fn, x: gradprops.assert_second_order(fn, x),
}


@pytest.mark.parametrize("name", list(bs.CORRECT))
@pytest.mark.parametrize("helper", list(HELPERS))
def test_correct_functions_pass_every_oracle(name, helper):
    fn = bs.CORRECT[name]
    special = torch.tensor([[0.0, 1.0, -2.0], [0.5, 0.0, 3.0]], dtype=f64)
    for x in (leaf(2, 3), special.clone().requires_grad_(), leaf(3, 2).detach().t().requires_grad_()):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", gradprops.NotChecked)
            HELPERS[helper](fn, (x,))
        for w in said:  # not checkable here (a kink, no double backward): fine for those two only
            assert helper in ("finite_differences", "second_order"), str(w.message)


def test_correct_two_input_function_passes_every_oracle():
    for helper in HELPERS.values():
        helper(bs.MulAdd.apply, (leaf(2, 3), leaf(2, 3, seed=1)))


def test_finite_differences_skip_where_forward_is_flat_to_float64_precision():
    # gelu at -30.8 computes exactly 0 (1 + erf(x/√2) cancels), while its backward gives -3.6e-206:
    # differences of a function that does not move say nothing about backward. Found by the suite.
    x = torch.tensor(-30.832367947678108, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(0.9401060036131061, dtype=torch.float64)
    d = torch.tensor(0.8309065761823623, dtype=torch.float64)
    with pytest.warns(gradprops.NotChecked, match="flat to float64 precision"):
        gradprops.assert_finite_differences(torch.nn.functional.gelu, (x,), seed=v, directions=d)


def test_the_gradcheck_hint_says_gradcheck_refuses_an_expanded_input():
    # gradcheck raises on stride-0 inputs, and .contiguous() hides a layout bug: the hint says both
    # (a user trial ran the hint on a shrunk expanded case and met gradcheck's RuntimeError)
    class WrongOnExpanded(Sin):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.cos() * (2.0 if 0 in x.stride() else 1.0)

    x = torch.tensor([0.3], dtype=f64).expand(2).requires_grad_()
    f = failure(gradprops.assert_finite_differences, WrongOnExpanded.apply, (x,))
    assert "gradcheck refuses input 0, expanded (stride 0): if it passes on .contiguous() copies" in str(f)
    gradprops.assert_finite_differences(WrongOnExpanded.apply, (torch.tensor([0.3, 0.3], dtype=f64,
                                                                             requires_grad=True),))


def _terms_turning_through_radians() -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, tuple]:
    """sum(sin(-(x1 + x0)·x0)) at |x0| up to 1000, along d scaled to x: each term's argument moves by
    radians between x and x + h·d at the first steps, while the summed output's second differences
    stay small against its first (fuzz seed 143 of the main job found one in float64)."""
    g = torch.Generator().manual_seed(0)
    x0 = (torch.rand(64, dtype=torch.float64, generator=g) * 2 - 1) * 1000
    x1 = (torch.rand(64, dtype=torch.float64, generator=g) * 2 - 1) * 3
    d = ((torch.rand(64, dtype=torch.float64, generator=g) * 2 - 1) * x0.abs(),
         (torch.rand(64, dtype=torch.float64, generator=g) * 2 - 1) * x1.abs())
    return (x0.requires_grad_(), x1.requires_grad_()), torch.tensor(0.94, dtype=torch.float64), d


def _turning(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    return torch.sin(-(x1 + x0) * x0).sum()


def test_finite_differences_refine_the_step_where_the_first_two_say_nothing_of_the_derivative():
    inputs, v, d = _terms_turning_through_radians()
    gradprops.assert_finite_differences(_turning, inputs, seed=v, directions=d)  # torch's backward is right


def test_a_wrong_backward_there_is_still_caught_once_the_steps_settle():
    class TenPercentOff(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x0, x1):
            ctx.save_for_backward(x0, x1)
            return _turning(x0, x1)

        @staticmethod
        def backward(ctx, grad):
            x0, x1 = ctx.saved_tensors
            with torch.enable_grad():
                a, b = x0.detach().requires_grad_(), x1.detach().requires_grad_()
                g0, g1 = torch.autograd.grad(_turning(a, b), (a, b), grad)
            return 1.1 * g0, 1.1 * g1

    inputs, v, d = _terms_turning_through_radians()
    with pytest.raises(gradprops.PropertyFailure, match="finite_differences") as failure:
        gradprops.assert_finite_differences(TenPercentOff.apply, inputs, seed=v, directions=d)
    assert str(failure.value).count("step h = ") >= 3  # judged at a step below h/4, where the estimates settled
