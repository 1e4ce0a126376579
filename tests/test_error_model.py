"""The error model: what rounding, overflow and underflow explain is never reported (issue 13's repros).

Each case is a correct computation that an earlier error model called wrong.
"""

import pytest
import torch
from hypothesis import given

import gradprops
from gradprops import strategies as gst
from gradprops.app.catalogue import ENTRIES
from gradprops.compare import compare, max_abs
from gradprops.properties.jacobian import check_vjp_matches_jacobian
from gradprops.signals import NotApplicable
from gradprops.strategies.seeds import largest_seed
from gradprops.target import Target
from gradprops.tolerances import resolve_tolerance
from tests.functions import Sin


def test_linearity_never_overflows_the_seed_it_builds_itself():
    # 1000 · 1000 = 1e6 overflows float16 (65504): gradprops scales a and b by a power of two instead.
    x = torch.tensor(-1.5459, dtype=torch.float16, requires_grad=True)
    seeds = (torch.tensor(-0.0073, dtype=torch.float16), torch.tensor(1000.0, dtype=torch.float16))
    gradprops.assert_seed_linearity(torch.sin, (x,), seeds=seeds, coefficients=(1.0, 1000.0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linearity_accounts_for_the_rounding_of_its_own_combined_seed(dtype):
    # a·u + b·v rounds in a narrow dtype; VJP of that rounding is carried, not guessed.
    x = torch.linspace(-3, 3, 64, dtype=dtype).requires_grad_()
    g = torch.Generator().manual_seed(3)
    u, v = (torch.randn(64, generator=g).to(dtype) for _ in range(2))
    gradprops.assert_seed_linearity(lambda t: t.cumsum(0) * t.sum(), (x,), seeds=(u, v), coefficients=(0.7071, -7.3))


def test_overflow_on_both_sides_is_not_compared_and_is_said():
    # backward(v) is -inf (-0.5·e^1000); vᵀJ is NaN (J's row for output 1 holds 0·inf).
    x = torch.tensor([1000.0, 0.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([-0.5, 0.5], dtype=torch.float64)
    with pytest.warns(gradprops.NotChecked, match="overflowed on both sides"):
        gradprops.assert_vjp_matches_jacobian(torch.exp, (x,), v)
    notes = check_vjp_matches_jacobian(Target(torch.exp, (x,)), v)
    assert notes == ["1 of 2 grad element(s) overflowed on both sides (NaN or inf, or past the dtype’s range) "
                     "and were not compared"]


def test_when_every_element_overflowed_the_property_says_it_could_not_run():
    x = torch.tensor([1000.0, 2000.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotApplicable, match="nothing could be compared"):
        check_vjp_matches_jacobian(Target(torch.exp, (x,)), torch.tensor([-0.5, 0.5], dtype=torch.float64))


def test_overflow_on_one_side_only_is_still_a_finding():
    tolerance = resolve_tolerance(torch.float64, None, None)
    for bad in (float("inf"), float("nan")):
        m = compare(torch.tensor([bad, 1.0]), torch.tensor([2.0, 1.0]), name="g", tolerance=tolerance)
        assert m is not None and m.worst_index == (0,)


def test_inf_where_the_wide_answer_is_past_the_dtypes_range_is_that_dtypes_correct_rounding():
    # backward(v) = 1000·100 = 1e5 rounds to inf in float16 (largest finite 65504); vᵀJ, summed in
    # float64, is 1e5. Found by benchmarks/false_alarms.py at float16 seed 0 (matmul, conv2d, lerp).
    x = torch.tensor([[1.0]], dtype=torch.float16, requires_grad=True)
    y = torch.tensor([[100.0]], dtype=torch.float16, requires_grad=True)
    v = torch.tensor([[1000.0]], dtype=torch.float16)
    notes = check_vjp_matches_jacobian(Target(torch.matmul, (x, y)), v)
    assert notes == ["1 of 2 grad element(s) overflowed on both sides (NaN or inf, or past the dtype’s range) "
                     "and were not compared"]


@pytest.mark.parametrize(("wide", "verdict"), [(1e5, None), (-1e5, "mismatch"), (6e4, "mismatch"), (7e4, None)])
def test_inf_against_a_finite_value_agrees_only_past_the_range_and_with_the_same_sign(wide, verdict):
    tolerance = resolve_tolerance(torch.float16, None, None)
    inf = torch.tensor([float("inf"), 1.0], dtype=torch.float16)
    m = compare(inf, torch.tensor([wide, 1.0], dtype=torch.float64), name="g", tolerance=tolerance)
    assert (m is None) == (verdict is None)


@given(gst.seeds((torch.zeros(3, dtype=torch.float16),)))
def test_float16_seeds_stay_small_enough_for_a_backward_to_multiply_them_by_two_inputs(seed):
    assert max_abs(seed) <= largest_seed(torch.float16) < 8


def test_linearity_keeps_its_combined_seed_inside_what_a_float16_backward_can_multiply():
    # atan2's backward computes grad·x before dividing by x² + y²: a float16 seed of 2000 against
    # x = -41 overflowed torch's correct kernel (benchmarks/false_alarms.py, float16 seed 0).
    x = torch.tensor([-41.4688], dtype=torch.float16, requires_grad=True)
    one = torch.tensor(1.0, dtype=torch.float16, requires_grad=True)
    gradprops.assert_seed_linearity(torch.atan2, (x, one), seeds=(torch.full((1,), 4.0, dtype=torch.float16),
                                                                   torch.full((1,), -0.0073, dtype=torch.float16)),
                                    coefficients=(1e3, 1.0))


def test_a_backward_that_is_inf_everywhere_is_finite_grads_finding():
    # Both sides of vjp_matches_jacobian come from that backward and overflow together; finite_grads
    # is the property that says a grad is infinite where the function is smooth.
    class InfGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("inf")

    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="finite_grads"):
        gradprops.assert_finite_grads(InfGrad.apply, (x,))


def test_values_a_subnormal_apart_agree():
    tolerance = resolve_tolerance(torch.bfloat16, None, None)
    tiny = torch.tensor([9.18e-41], dtype=torch.bfloat16)  # one bfloat16 subnormal step from 0
    assert compare(tiny, torch.zeros(1, dtype=torch.bfloat16), name="g", tolerance=tolerance) is None
    assert compare(tiny * 4, torch.zeros(1, dtype=torch.bfloat16), name="g", tolerance=tolerance) is not None


@pytest.mark.parametrize(("op", "seed", "prop"), [
    ("layer_norm_affine", 12, "second_order"),  # backward's exact 0 against noise/2h of a 1×1 row at x = 1000
    ("cross_entropy_soft", 17, "forward_reverse_adjoint"),  # forward mode's 0 is rounding of terms ~0.03
    ("cross_entropy_soft", 20, "forward_reverse_adjoint"),
])
def test_the_main_runs_false_alarms_of_the_seed_sweep_pass(op, seed, prop):
    fn, inputs = ENTRIES[op].strategies(torch.float64)
    gradprops.check(fn, inputs, seed=seed, max_examples=25, properties=[prop])


@pytest.mark.parametrize(("op", "seed", "prop"), [
    ("group_norm", 2, "seed_linearity"),  # a 2-element group: backward's terms of 1/σ ≈ 10 cancel to 0
    ("add", 1, "seed_linearity"),  # failed with one torch thread per process, as the benchmark runs
    ("matrix_norm_fro", 2, "low_precision"),  # 7,156 identical terms: torch's loop errs by 673 unit roundoffs
    ("prod_dim", 3, "low_precision"),  # a partial product of 2,048 terms passes float32's range
    ("kl_div", 3, "forward_reverse_adjoint"),
    ("bilinear", 5, "low_precision"),  # aten._trilinear sums 2,048 terms: counted since as an accumulation
])
def test_the_float32_false_alarms_of_the_seed_sweep_pass(op, seed, prop):
    torch.set_num_threads(1)  # pytest-xdist runs each test in its own process: no other test is affected
    fn, inputs = ENTRIES[op].strategies(torch.float32)
    gradprops.check(fn, inputs, seed=seed, max_examples=25, properties=[prop])


def test_a_float32_backward_whose_terms_cancel_is_linear_within_its_rounding():
    # group_norm of a 2-element group: σ ≈ 0.1, so VJP(ones) is 0 from terms of size 10; float32's
    # rounding of them (1e-5) is not a nonlinear backward. The noise is simulated on the float32 tensors.
    x = torch.tensor([[[-1.5459917783737183], [-0.7569012641906738]], [[-0.7249135971069336], [-0.9264764189720154]]],
                     dtype=torch.float32, requires_grad=True)
    u = torch.tensor([[[0.0005152632365934551], [-0.0004413782444316894]], [[-0.0001938614877872169],
                      [0.00046936896978877485]]], dtype=torch.float32)
    gradprops.assert_seed_linearity(lambda t: torch.nn.functional.group_norm(t, 1), (x,),
                                    seeds=(u, torch.ones(2, 2, 1)), coefficients=(1.0, 1.0))


@pytest.mark.parametrize("op", ["sigmoid", "silu", "softplus", "layer_norm", "group_norm", "cross_entropy_soft"])
def test_catalogue_ops_that_failed_in_bfloat16_pass(op):
    # underflow below bfloat16's subnormals, a narrow backward held to float64 finite differences,
    # and probabilities that cancel: each was a false alarm
    fn, inputs = ENTRIES[op].strategies(torch.bfloat16)
    gradprops.check(fn, inputs, seed=0, max_examples=25)


class _Float32Backward(Sin):
    """sin, right formula, but its backward computes in float32 whatever the inputs' dtype."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g.float() * x.float().cos()).to(g.dtype)


def test_a_float64_function_whose_backward_runs_in_float32_is_reported_as_precision_lost(monkeypatch):
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(_Float32Backward.apply, gst.inputs("(n)", dtype=torch.float64), seed=0)
    text = str(caught.value)
    assert caught.value.property == "low_precision"
    assert "the float64 path loses precision in narrower steps (aten._to_copy: torch.float64 -> torch.float32" in text
    assert text.count("aten._to_copy") == 1  # said once, in the headline: not again in the case
    # Any other property's failure on such a function names the steps in its case, looked for once per
    # check (on the final example), not on every failing example of the shrink.
    import gradprops.properties._common as common

    looked = []
    real = common.narrowing_steps
    monkeypatch.setattr(common, "narrowing_steps", lambda target: looked.append(1) or real(target))
    class Wrong(_Float32Backward):  # and a wrong formula, which finite differences find
        @staticmethod
        def backward(ctx, g):
            return _Float32Backward.backward(ctx, g) * 1.1

    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(Wrong.apply, gst.inputs("(n)", dtype=torch.float64), seed=0,
                        properties=["finite_differences"])
    assert caught.value.property == "finite_differences"
    assert "precision lost: the float64 path computes in a narrower dtype (backward: aten._to_copy: " \
           "torch.float64 -> torch.float32" in str(caught.value)
    assert len(looked) == 1


def test_a_float64_function_computed_in_float64_has_no_precision_note():
    class Off(torch.autograd.Function):  # a wrong formula, all in float64
        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * 3.3

    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.assert_finite_differences(Off.apply, (x,))
    assert "precision lost" not in str(caught.value)


def test_a_float64_function_seen_to_compute_in_float64_is_not_suspected_of_a_narrower_step():
    # 3% off for negative seed entries, all in float64: a difference of the size float16 makes, but
    # no float16 step was seen, so the Kind line leans to formula (a user trial found it blaming
    # "precision lost in a torch.float16 step … as likely as a wrong formula").
    class NegativeSeedsOff(Sin):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return torch.where(g < 0, 0.97 * g, g) * x.cos()

    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.assert_vjp_matches_jacobian(NegativeSeedsOff.apply, (x,), torch.tensor(-0.5, dtype=torch.float64))
    [kind] = [line for line in str(caught.value).splitlines() if "Kind:" in line]
    assert "took no narrower step, so a wrong formula is likelier" in kind and "as likely as" not in kind
    assert caught.value.case.narrower_steps is False
    # where the function does narrow, the same size still points at that step
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.assert_vjp_matches_jacobian(_HalfBackwardOff.apply, (x,), torch.tensor(-0.5, dtype=torch.float64))
    assert caught.value.case.narrower_steps is True
    assert "float16's unit roundoff" in str(caught.value)


class _HalfBackwardOff(Sin):
    """A backward through float16, 0.2% off for negative seed entries: the Kind line may blame that step."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (torch.where(g < 0, 0.998 * g, g).half() * x.half().cos()).to(g.dtype)


@pytest.mark.parametrize(("relative", "kind"), [(3e-7, "float32's unit roundoff"), (3e-3, "float16's unit roundoff"),
                                                 (0.2, "a wrong formula"), (float("inf"), "NaN or inf on one side")])
def test_the_kind_of_a_float64_mismatch_follows_from_its_size(relative, kind):
    expected = torch.tensor([1.0, 0.5], dtype=torch.float64)
    actual = expected.clone()
    actual[0] += relative
    m = compare(actual, expected, name="g", tolerance=resolve_tolerance(torch.float64, None, None))
    assert m is not None and kind in m.kind()


def test_a_float16_mismatch_a_few_roundoffs_wide_is_not_called_a_wrong_formula():
    expected = torch.tensor([1.0, 0.5], dtype=torch.float16)
    m = compare(expected + torch.tensor([3e-3, 0.0], dtype=torch.float16), expected, name="g",
                tolerance=resolve_tolerance(torch.float16, 1e-4, 1e-4))
    assert m is not None and "yet small" in m.kind()


def test_topk_at_a_three_way_tie_is_a_point_finite_differences_cannot_judge():
    # topk picks two of three tied zeros; along d the one-sided differences pick two others, and
    # backward's choice lies outside them (bfloat16 seed 3 of benchmarks/false_alarms.py).
    x = torch.tensor([-3.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([0.2265625, -0.23828125, 0.2734375], dtype=torch.float64)
    d = torch.tensor([1.524, -0.00153, -0.8813, 0.00094, -0.00292], dtype=torch.float64)
    with pytest.warns(gradprops.NotChecked, match="x sits on a kink along d"):
        gradprops.assert_finite_differences(lambda t: torch.topk(t, 3).values, (x,), seed=v, directions=d)


def test_grads_of_outputs_that_overflowed_their_dtype_need_not_be_finite():
    # float32 prod of 200 twos is inf (2^200 > 3.4e38), its grads too; the float64 path is finite.
    x = torch.full((200,), 2.0, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match="outputs are NaN or inf in their dtype"):
        gradprops.assert_finite_grads(lambda t: t.prod(), (x,))


def test_topk_at_a_three_way_tie_with_a_small_kink_is_not_judged_either():
    # The same tie with one-sided differences only 2x the allowance apart (float64 seed 8).
    x = torch.tensor([-3.0, 0.0, 1.0, 0.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([0.940106, 0.41564, -0.0812341, 0.841495], dtype=torch.float64)
    d = torch.tensor([0.0808475, -0.00130315, 0.507428, -0.000947552, 0.0027072, -1.67982], dtype=torch.float64)
    with pytest.warns(gradprops.NotChecked, match="x sits on a kink along d"):
        gradprops.assert_finite_differences(lambda t: torch.topk(t, 4).values, (x,), seed=v, directions=d)


def test_a_value_computed_through_a_large_intermediate_carries_its_rounding():
    # cross-entropy at logits [661.18, 17.66]: its 6e-278 loss is computed through log-sum-exp ≈ 661,
    # where 661 + 1e-280 rounds to 661, so its central differences are off by ~1e-278 (float64 seed 6
    # of benchmarks/false_alarms.py, the main job at --seed 6).
    logits = [[661.177415985158, 17.657092265999587]]
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(-0.8778934505607527, dtype=torch.float64)
    d = (torch.tensor([[260.34240956720583, 15.706049070926497]], dtype=torch.float64),
         torch.tensor([[107.09876805160076, 5.604632686871185]], dtype=torch.float64))
    fn = lambda a, b: torch.nn.functional.cross_entropy(a, torch.softmax(b, dim=-1))  # noqa: E731
    gradprops.assert_finite_differences(fn, (x, y), seed=v, directions=d)


def test_a_float32_backward_that_overflows_inside_its_dtype_is_not_called_nonlinear():
    # cumprod of 127 twos: the product, 2**127, fits float32, but backward adds the products up to
    # 2**128 before dividing back: VJP(u + v) is inf where VJP(u) and VJP(v) are not (float32 seed 5).
    x = torch.full((127,), 2.0, requires_grad=True)
    half = torch.full((127,), 0.5)
    with pytest.warns(gradprops.NotChecked, match="overflowed inside its dtype"):
        gradprops.assert_seed_linearity(lambda t: torch.cumprod(t, 0), (x,), seeds=(half, half),
                                        coefficients=(1.0, 1.0))


class _InfForLargeSeeds(torch.autograd.Function):
    """x * 2 whose backward returns inf where the seed exceeds 1: nonlinear, on small values."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return torch.where(g.abs() > 1, torch.full_like(g, float("inf")), g * 2)


def test_an_inf_that_no_float64_intermediate_explains_is_still_a_finding():
    x = torch.ones(3, requires_grad=True)
    half = torch.full((3,), 0.75)
    with pytest.raises(gradprops.PropertyFailure, match="not linear in its seed"):
        gradprops.assert_seed_linearity(_InfForLargeSeeds.apply, (x,), seeds=(half, half), coefficients=(1.0, 1.0))


@pytest.mark.parametrize(("op", "seed"), [("atan2", 8), ("pow_int", 9)])
def test_float16_linearity_through_subnormal_terms_is_rounding(op, seed):
    # atan2(100, y) onto a 0-d x: 13,240 terms of ~1e-7, each on float16's subnormal grid, which input
    # moves of one roundoff never change: the measured noise was 0 until results rounded stochastically.
    torch.set_num_threads(1)
    fn, inputs = ENTRIES[op].strategies(torch.float16)
    gradprops.check(fn, inputs, seed=seed, max_examples=25)


def test_rounding_noise_sees_rounding_that_input_moves_cannot_change():
    from gradprops.properties._common import rounding_noise

    y = torch.linspace(0.5, 4.0, 10_000).half()

    def grad_of_x(values):  # terms of ~1e-7: float16 subnormals
        (x,) = values
        return [(torch.full_like(y, -7.3e-4) * y / (x * x + y * y)).sum().reshape(1)]

    x = torch.tensor(100.0, dtype=torch.float16)
    assert rounding_noise(grad_of_x, [x], grad_of_x([x])) > 0


class _Reciprocal(torch.autograd.Function):
    """1/x, backward -g/(x·x): at x = 7.5e-155, x·x is subnormal and -g/(x·x) just fits float64."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1.0 / x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g / (x * x)


def test_a_double_backward_past_float64s_range_is_not_called_wrong():
    # A user trial's shrunk case: the second derivative 2·v·t1/x³ is ~1e461, so double backward's inf
    # is float64's correctly rounded answer. Central differences of backward across 1/x's pole (the
    # step is 6e-9, x is 7e-155) are finite values whose differences overflow float64: an inf gap
    # once compared equal to an inf gap, and the pole passed for a smooth point.
    x = torch.tensor(7.458340731200207e-155, dtype=torch.float64, requires_grad=True)
    seeds = (torch.tensor(0.026949165162805322, dtype=torch.float64),
             torch.tensor(-0.4343835866205872, dtype=torch.float64))
    with pytest.warns(gradprops.NotChecked, match="differences in float64, are not finite near x"):
        gradprops.assert_second_order(_Reciprocal.apply, (x,), seed=torch.tensor(0.9401060036131061,
                                      dtype=torch.float64), second_seeds=seeds, coefficients=(1.5, -0.75))


@pytest.mark.parametrize("fn", [torch.reciprocal, lambda t: 1.0 / t], ids=["reciprocal", "division"])
def test_a_zero_seed_against_a_derivative_past_the_dtypes_range_may_make_nan(fn):
    # 1/x in float16 at x = 2⁻¹⁰ is 1024, its derivative -2²⁰ overflows float16 (65504): torch's own
    # backward, -g·(1/x)², computes 0·inf = NaN for the seed's 0, though ⟨v, J·e_0⟩ is 0.
    x = torch.tensor([2.0**-10, 1.0], dtype=torch.float16, requires_grad=True)
    v = torch.tensor([0.0, 1.0], dtype=torch.float16)
    with pytest.warns(gradprops.NotChecked, match=r"\(1.05e\+06\) is past torch.float16's range \(65504\)"):
        gradprops.assert_finite_grads(fn, (x,), v)


class _ScaledNaNAtZero(torch.autograd.Function):
    """40000·x whose backward multiplies by x/x: NaN at 0, where the derivative, 40000, fits float16."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 40000

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 40000 * (x / x)


def test_a_nan_where_the_derivative_is_large_but_inside_the_range_is_still_a_finding():
    # Excusing derivatives past half the range (a review) skipped this on every example of a check.
    x = torch.tensor([0.0, 0.5], dtype=torch.float16, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="finite_grads"):
        gradprops.assert_finite_grads(_ScaledNaNAtZero.apply, (x,), torch.tensor([0.25, 0.25], dtype=torch.float16))


class _Pow10(torch.autograd.Function):
    """x**10, backward g·10·x⁹ (``wrong``: element 1's grad as if its seed were 1; without
    ``reads_strides``, a 2-d seed read in memory order as if contiguous)."""

    wrong = False
    reads_strides = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**10

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if not _Pow10.reads_strides:
            g = torch.as_strided(g, g.shape, (g.shape[1], 1))
        grad = g * 10 * x**9
        return torch.where(torch.arange(2) == 1, 10 * x**9, grad) if _Pow10.wrong else grad


def test_a_zero_seed_against_a_jacobian_entry_past_the_dtypes_range_is_compared_as_zero(monkeypatch):
    # x**10 in float16 at x = -3 is 59049, its derivative -196830 is past 65504: vᵀJ's 0·(-inf) was NaN
    # against backward's -0, the exact answer (a user trial, through a seed check() drew).
    x = torch.tensor([-3.0, 2.5], dtype=torch.float16, requires_grad=True)
    v = torch.tensor([0.0, 1.5], dtype=torch.float16)
    assert check_vjp_matches_jacobian(Target(_Pow10.apply, (x,)), v) == []
    monkeypatch.setattr(_Pow10, "wrong", True)  # the other element is still compared
    with pytest.raises(gradprops.PropertyFailure, match=r"At index \(1,\): backward\(v\) = 38144, vᵀJ = 57216"):
        check_vjp_matches_jacobian(Target(_Pow10.apply, (x,)), v)


def test_an_inf_where_a_zero_seed_meets_an_overflowed_jacobian_entry_is_still_compared(monkeypatch):
    # Only 0·inf = NaN is excused there: an inf comes of reading a seed entry that is not 0 — here a
    # backward that reads its transposed seed as if contiguous (a review).
    x = torch.tensor([[0.5, -3.0], [0.0, 0.5]], dtype=torch.float16, requires_grad=True)
    v = torch.tensor([[1.0, 2.0], [0.0, 1.0]], dtype=torch.float16).t()  # v[0, 1] = 0, J there past 65504
    assert check_vjp_matches_jacobian(Target(_Pow10.apply, (x,)), v) == []
    monkeypatch.setattr(_Pow10, "reads_strides", False)
    with pytest.raises(gradprops.PropertyFailure, match=r"At index \(0, 1\): backward\(v\) = -inf"):
        check_vjp_matches_jacobian(Target(_Pow10.apply, (x,)), v)


class _NaNForAZeroSeed(torch.autograd.Function):
    """x·2 whose backward is 0/0 = NaN when its whole seed is 0."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2 / g.ne(0).any()


def test_vjp_matches_jacobian_is_never_handed_an_all_zero_seed():
    # Neither a drawn one (a quarter of drawn seeds are zeros) nor one restricted to sampled Jacobian
    # rows where it is 0: such a seed checks only that backward(0) is 0, for any linear backward, and
    # a failure on it could not be replayed by the helper the message names, which refuses it.
    gradprops.check(_NaNForAZeroSeed.apply, gst.inputs("(n)"), properties=["vjp_matches_jacobian"],
                    max_examples=40, seed=0)
