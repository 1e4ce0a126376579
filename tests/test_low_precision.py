"""The low-precision oracle: wrong float16/bfloat16 paths are caught, correct ones pass, its error model holds."""

import math
import re
import warnings
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

import gradprops
from gradprops import strategies as gst
from gradprops.precision import SimulatedPrecision, unit_roundoff


class HalfPathSin(torch.autograd.Function):
    """sin whose backward has its own formula per dtype: the kind of branch a kernel author writes."""

    error: ClassVar[dict[torch.dtype, str]] = {torch.bfloat16: "scale", torch.float16: "sign"}

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        kind = HalfPathSin.error.get(x.dtype)
        if kind == "scale":
            return g * x.cos() * 1.03  # 3% off, only in bfloat16
        if kind == "sign":
            return g * (x.cos() - 0.1 * x.sin())  # one term with a wrong sign, only in float16
        return g * x.cos()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_wrong_low_precision_path_is_caught_by_default_check(dtype):
    with pytest.raises(gradprops.PropertyFailure) as info:  # a wrong sign is large enough for finite differences too
        gradprops.check(HalfPathSin.apply, gst.inputs("(n)", dtype=dtype), max_examples=50, seed=0)
    assert info.value.property in ("low_precision", "finite_differences")
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(HalfPathSin.apply, gst.inputs("(n)", dtype=dtype), properties=["low_precision"],
                        max_examples=50, seed=0)
    failure = info.value
    text = str(failure)
    assert "grad of input 0" in text and f"in {dtype}" in text and "in float64" in text
    assert "wrong formula" in text


def test_the_same_function_passes_in_float64_where_its_path_is_right():
    gradprops.check(HalfPathSin.apply, gst.inputs("(n)", dtype=torch.float64), max_examples=30, seed=0)


CORRECT = {
    "sin": torch.sin,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "exp": torch.exp,
    "softmax": lambda t: t.softmax(-1),
    "cumsum": lambda t: t.cumsum(-1),
    "norm": lambda t: t.norm(dim=-1),
    "matmul": lambda t: t @ t.mT,
    "gelu": F.gelu,
    "mse": lambda t: (t * t).mean(),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_torch_ops_pass_in_every_low_precision_dtype(name, dtype):
    signature = "(m,n)" if name == "matmul" else "(n)"
    for seed in range(2):
        report = gradprops.check(CORRECT[name], gst.inputs(signature, dtype=dtype), properties=["low_precision"],
                                 max_examples=25, seed=seed)
        assert report.ran("low_precision") > 0


def test_float64_targets_are_checked_for_narrower_steps():
    report = gradprops.check(torch.sin, gst.inputs("(n)", dtype=torch.float64), properties=["low_precision"],
                             max_examples=5, seed=0)
    assert report.ran("low_precision") == 5


def test_a_float64_narrower_step_that_loses_nothing_passes():
    # The float32 step only decides a mask: the grads are the same as computed in float64.
    def masked(x):
        return torch.where(x.float() > 0, x, 2 * x) * x

    gradprops.check(masked, gst.inputs("(n)", dtype=torch.float64), properties=["low_precision"], max_examples=20,
                    seed=0)


def test_a_float64_reference_is_a_usage_of_nothing_wider():
    x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match="no wider dtype"):
        gradprops.assert_low_precision(torch.sin, (x,), seed=torch.ones(5, dtype=torch.float64), reference=torch.sin)


def test_helper_with_a_reference_catches_a_kernel_further_off_than_the_reference_rounds():
    def reference(x):
        return x.sin()

    x = torch.linspace(-3, 3, 64, dtype=torch.bfloat16).requires_grad_()
    v = torch.linspace(-1, 1, 64, dtype=torch.bfloat16)
    gradprops.assert_low_precision(torch.sin, (x,), seed=v, reference=reference)
    with pytest.raises(gradprops.PropertyFailure, match="low_precision"):
        gradprops.assert_low_precision(lambda t: t.sin() * 1.05, (x,), seed=v, reference=reference)


def _gelu_kernel(x):
    """A 'fast kernel': tanh-approximated GELU with its own float16/bfloat16 path."""
    return F.gelu(x, approximate="tanh")


def _gelu_kernel_wrong_in_bfloat16(x):
    return F.gelu(x, approximate="tanh") * (1.03 if x.dtype == torch.bfloat16 else 1.0)


def _gelu_reference(x):
    """The plain PyTorch composite the kernel replaces."""
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def test_check_and_autograd_test_take_a_reference_for_the_low_precision_oracle():
    inputs = gst.inputs("()", dtype=torch.bfloat16, low=-4, high=4)
    report = gradprops.check(_gelu_kernel, inputs, properties=["low_precision"], reference=_gelu_reference,
                             max_examples=20, seed=0)
    assert report.ran("low_precision") == 20
    with pytest.raises(gradprops.PropertyFailure, match="low_precision") as failure:
        gradprops.check(_gelu_kernel_wrong_in_bfloat16, inputs, properties=["low_precision"],
                        reference=_gelu_reference, max_examples=20, seed=0)
    assert re.search(r"\n  reference: \S*_gelu_reference\n", str(failure.value))
    assert "reference=reference" in str(failure.value)  # both replay lines pass it on
    test = gradprops.autograd_test(_gelu_kernel_wrong_in_bfloat16, inputs="()", dtypes=["bfloat16"],
                                   properties=["low_precision"], reference=_gelu_reference)
    with pytest.raises(gradprops.PropertyFailure, match="low_precision"):
        test(seed=0, max_examples=20)


def test_a_reference_that_is_not_callable_is_a_usage_error():
    with pytest.raises(gradprops.UsageError, match="reference must be a callable"):
        gradprops.check(torch.sin, gst.inputs("()"), reference="torch.sin")
    with pytest.raises(gradprops.UsageError, match="reference must be a callable"):
        gradprops.autograd_test(torch.sin, inputs="()", reference=torch.zeros(1))


def test_a_reference_with_other_output_shapes_is_a_usage_error():
    x = torch.randn(4, dtype=torch.float16, requires_grad=True)
    with pytest.raises(gradprops.UsageError, match="reference returns differentiable outputs of shapes"):
        gradprops.assert_low_precision(torch.sin, (x,), reference=lambda t: t.sum())


def test_where_float16_itself_overflows_no_verdict_is_given_there():
    # exp(12) overflows float16 (65504): a correct float16 run is inf there too, so only the rest is compared.
    x = torch.tensor([0.5, 12.0], dtype=torch.float16, requires_grad=True)
    with pytest.warns(gradprops.NotChecked, match=r"1 element\(s\) not compared: a correct computation in "
                      r"torch\.float16 overflows there too"):
        gradprops.assert_low_precision(torch.exp, (x,), seed=torch.tensor([1.0, 1.0], dtype=torch.float16))


def test_simulation_rounds_every_result_to_the_dtype():
    x = torch.tensor([1.0, 3.0], dtype=torch.float64)
    with SimulatedPrecision(torch.bfloat16, torch.Generator().manual_seed(0)):
        y = x / 3
    assert torch.equal(y, y.to(torch.bfloat16).to(torch.float64))
    assert not torch.equal(y, x / 3)


def test_simulated_error_is_the_size_rounding_predicts():
    # One rounding of each of 1000 results: at most u relative, and about u/2 on average.
    x = torch.linspace(0.1, 10, 1000, dtype=torch.float64)
    with SimulatedPrecision(torch.float16, torch.Generator().manual_seed(0)):
        y = x.sqrt()
    relative = ((y - x.sqrt()) / x.sqrt()).abs()
    u = unit_roundoff(torch.float16)
    assert float(relative.max()) <= u * 1.01
    assert 0.1 * u < float(relative.mean()) < 0.9 * u


@pytest.mark.parametrize("case", [52, 82])
def test_a_long_reduction_whose_rounding_adds_up_like_a_gaussian_is_not_a_false_alarm(case):
    # The grad of atan2's 0-d y sums 3072 rounded terms: its error is Gaussian-like, and a correct
    # float16 kernel lands beyond twice the worst of three simulated runs now and then (2 of 150 such
    # cases; atan2 at float16 seed 2 of benchmarks/false_alarms.py). More runs are drawn before a verdict.
    g = torch.Generator().manual_seed(case)
    x = (torch.rand(3, 1, 1024, generator=g) * 8 - 4).to(torch.float16).requires_grad_()
    y = torch.tensor(4.0, dtype=torch.float16, requires_grad=True)
    v = (torch.rand(3, 1, 1024, generator=g) * 2 - 1).to(torch.float16)
    gradprops.assert_low_precision(torch.atan2, (x, y), seed=v, generator=g)


def test_simulation_runs_on_narrow_tensors_in_place_and_hands_back_their_dtype():
    # rounding noise of a float32 comparison is simulated on the float32 tensors themselves
    x = torch.linspace(0.1, 10, 1000, dtype=torch.float32)
    with SimulatedPrecision(torch.float32, torch.Generator().manual_seed(0)):
        y = (x / 3).sum()
    assert y.dtype == torch.float32
    assert float(y) != float((x.double() / 3).sum().float())  # moved by the simulated rounding, not computed as is
    assert abs(float(y) - float((x.double() / 3).sum())) < 1000 * unit_roundoff(torch.float32) * float(y)


@pytest.mark.parametrize("layout", ["expanded", "transposed"])
def test_simulated_error_covers_torchs_own_long_accumulation_of_identical_terms(layout):
    # torch's float32 vector_norm and matmul loops add identical terms with an error of ~0.2·k unit
    # roundoffs (benchmarks/accumulation_error.py); a √k model called them wrong.
    k = 16384
    row = torch.tensor([[3.1], [1.7]], dtype=torch.float32)
    x = row.expand(2, k) if layout == "expanded" else row.expand(2, k).contiguous().t().contiguous().t()
    x.requires_grad_()
    gradprops.assert_low_precision(lambda t: torch.linalg.vector_norm(t, dim=-1), (x,), seed=torch.ones(2))
    gradprops.assert_low_precision(lambda t: t @ torch.ones(k, 1, dtype=t.dtype), (x,), seed=torch.ones(2, 1))


def test_a_product_whose_partial_product_overflows_float32_is_not_compared_there():
    x = torch.tensor([[1e30, 1e30, 1e-30, 1e-30], [2.0, 3.0, 4.0, 5.0]], dtype=torch.float32, requires_grad=True)
    assert torch.isinf(x.prod(1)[0])  # torch's float32 kernel overflows in a partial product; the product is 1
    with pytest.warns(gradprops.NotChecked, match="overflows there too"):
        gradprops.assert_low_precision(lambda t: t.prod(1), (x,), seed=torch.ones(2))
    wrong = torch.tensor([[1e30, 1e30, 1e-30, 1e-30], [2.0, 3.0, 4.0, 5.0]], dtype=torch.float32, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="output 0"):  # the row that fits is still compared
        gradprops.assert_low_precision(lambda t: t.prod(1) * (1 + 0.01 * (t.dtype == torch.float32)), (wrong,),
                                       seed=torch.ones(2))


def test_a_scan_whose_running_product_overflowed_is_not_compared_after_it():
    # bfloat16 seed 6: torch's running product (float32) passed the range at one element and stayed inf,
    # where float64's came back within bfloat16's range further on.
    x = torch.tensor([1e30, 1e20, 1e-30, 1e-20, 2.0], dtype=torch.bfloat16)
    assert torch.isinf(x.cumprod(0)[-1]) and x.double().cumprod(0)[-1] < 3
    with pytest.warns(gradprops.NotChecked, match="overflows there too"):
        gradprops.assert_low_precision(lambda t: t.cumprod(0), (x.requires_grad_(),),
                                       seed=torch.ones(5, dtype=torch.bfloat16))
    wrong = torch.tensor([1.5, 2.0, 1e30, 1e20, 0.5], dtype=torch.bfloat16, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="output 0"):  # the prefix before the overflow is compared
        gradprops.assert_low_precision(lambda t: t.cumprod(0) * (1 + 0.05 * (t.dtype == torch.bfloat16)), (wrong,),
                                       seed=torch.ones(5, dtype=torch.bfloat16))


@pytest.mark.parametrize("op", ["mse_loss_backward", "huber_loss_backward"])
def test_simulation_holds_a_loss_kernels_normalisation_in_the_dtype_as_torch_does(op):
    # torch's float16 mse_loss/huber_loss backward round 2/N (1/N) to float16, a subnormal when
    # N > 32,768: every term carries the same 0.14% error at N = 99,999.
    n = 99_999
    backward = getattr(torch.ops.aten, op)
    extra = (1.0e9,) if op == "huber_loss_backward" else ()  # delta: no clipping
    x, y, g = torch.full((n,), 3.0), torch.zeros(n), torch.tensor(1.0)
    in_float16 = backward(g.half(), x.half(), y.half(), 1, *extra)
    with SimulatedPrecision(torch.float16, torch.Generator().manual_seed(0)):
        simulated = backward(g.double(), x.double(), y.double(), 1, *extra)
    exact = backward(g.double(), x.double(), y.double(), 1, *extra)
    u = unit_roundoff(torch.float16)
    assert float(in_float16[0] / exact[0] - 1) > 2 * u  # torch's error, not ours
    # the simulation makes it too (2.8 u), give or take the common move of an intermediate (≤ u) and a rounding
    # (a subnormal spacing here)
    assert float((simulated / exact - 1).median()) > u
    assert torch.allclose(simulated, in_float16.double(), rtol=2 * u, atol=2.0**-24)  # one subnormal spacing


def test_a_float16_mean_squared_error_over_a_hundred_thousand_terms_is_not_a_false_alarm():
    # mse_loss at float16 seed 9 of benchmarks/false_alarms.py: the grad of a broadcast target was
    # 1.05x the allowance, the simulation having rounded 2/N's product with each term, not 2/N itself.
    x = torch.randn(99_999, generator=torch.Generator().manual_seed(0)).to(torch.float16).requires_grad_()
    y = torch.tensor([-0.5], dtype=torch.float16, requires_grad=True)
    gradprops.assert_low_precision(lambda a, b: F.mse_loss(*torch.broadcast_tensors(a, b)), (x, y),
                                   seed=torch.tensor(-0.810546875, dtype=torch.float16))


def test_terms_that_round_alike_and_cancel_are_not_a_false_alarm():
    # kl_div at float16 seed 7 of benchmarks/false_alarms.py: logits constant along rows of 2,048 and
    # targets equal but for four values, so the row's terms xlogy(t, t) - t·x are equal, round alike,
    # and cancel to ~1% of their size: torch's float16 loss was 1.33x the allowance. The simulation
    # moves each rounded intermediate by one common relative error too, as another kernel's rounding
    # would, and covers it (without that move this fails).
    x = torch.tensor([-0.56298828125, -1.0, -0.78173828125, 0.9482421875, -0.64599609375, -0.09112548828125],
                     dtype=torch.float16)[:, None].expand(6, 2048).requires_grad_()
    y = torch.full((6, 2048), -0.0017061233520507812, dtype=torch.float16)
    y[0, 0], y[0, 297], y[3, 87], y[5, 2047] = 5.0, 2.0, 2.0, 0.00390625
    gradprops.assert_low_precision(
        lambda a, b: F.kl_div(F.log_softmax(a, -1), F.softmax(b, -1), reduction="batchmean"),
        (x, y.requires_grad_()), seed=torch.tensor(0.515625, dtype=torch.float16))


def test_fused_accumulations_without_a_decomposition_count_their_terms():
    from torch.utils._python_dispatch import TorchDispatchMode

    from gradprops.precision import _accumulated_terms

    seen: dict[str, int] = {}

    class Terms(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen[func.overloadpacket.__name__] = max(seen.get(func.overloadpacket.__name__, 1),
                                                     _accumulated_terms(func, args))
            return func(*args, **(kwargs or {}))

    x, y = torch.randn(300, 2, dtype=torch.float64), torch.randn(300, 3, dtype=torch.float64)
    w = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    a = torch.randn(7, 7, dtype=torch.float64).triu() + 7 * torch.eye(7, dtype=torch.float64)
    with Terms():
        torch.autograd.grad(F.bilinear(x, y, w).sum(), w)  # grad w sums the 300 batch terms
        torch.linalg.solve_triangular(a, torch.randn(7, 2, dtype=torch.float64), upper=True)
    assert seen["_trilinear"] == 300 and seen["linalg_solve_triangular"] == 7


def test_simulating_scans_allocates_nothing_quadratic_in_their_length():
    # torch's cumsum/cumprod decompositions mask an (n, n) copy of each row: stepped through, a
    # float32 cumprod along 2,048 elements of a thousand rows needed 20 GB (OOM-killed sweep workers).
    from torch.utils._python_dispatch import TorchDispatchMode

    largest = [0]

    class Sizes(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, (tuple, list)) else [out]):
                if isinstance(t, torch.Tensor):
                    largest[0] = max(largest[0], t.numel())
            return out

    x = (torch.rand(4, 3000) + 0.5).requires_grad_()
    for scan in (torch.cumsum, torch.cumprod):
        with Sizes(), SimulatedPrecision(torch.float32, torch.Generator().manual_seed(0)):
            y = scan(x, 1)
            torch.autograd.grad(y, x, torch.ones_like(y))
    assert largest[0] <= 4 * x.numel()


def test_a_bfloat16_matmul_that_reads_between_rows_is_found():
    # The torch finding behind ENTRIES["mm"].known: oneDNN's bfloat16 kernel multiplies the storage
    # between rows of a row-strided operand (by zero): NaN there gives NaN outputs.
    storage = torch.randn(342, 4, generator=torch.Generator().manual_seed(0)).bfloat16()
    storage[:, 3] = math.nan
    x, y = storage[:, :3], torch.tensor([[1.0, 0.0, 2.0, -1.0], [-2.0, 1.0, 0.5, 1.0], [0.5, 3.0, 1.0, 0.0]],
                                        dtype=torch.bfloat16)
    if not torch.mm(x, y).isnan().any():
        pytest.skip("this torch build's bfloat16 matmul does not read between rows")
    with pytest.raises(gradprops.PropertyFailure, match=r"in torch.bfloat16 = nan"):
        gradprops.assert_low_precision(torch.mm, (x.requires_grad_(), y.requires_grad_()),
                                       seed=torch.ones(342, 4, dtype=torch.bfloat16))


class _LayerNorm(torch.autograd.Function):
    """layer_norm over the last dim; ``one_pass`` computes backward's variance as E[x²] − E[x]²,
    which cancels catastrophically where |mean| ≫ std in a narrow dtype (a user trial)."""

    one_pass = False

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xc = x - x.mean(-1, keepdim=True)
        return xc * ((xc * xc).mean(-1, keepdim=True) + 1e-5).rsqrt()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        mu = x.mean(-1, keepdim=True)
        if _LayerNorm.one_pass:
            var = ((x * x).mean(-1, keepdim=True) - mu * mu).clamp_min(0)
        else:
            var = ((x - mu) ** 2).mean(-1, keepdim=True)
        rstd = (var + 1e-5).rsqrt()
        y = (x - mu) * rstd
        return rstd * (g - g.mean(-1, keepdim=True) - y * (g * y).mean(-1, keepdim=True))


@pytest.mark.parametrize(("dtype", "low", "span"), [(torch.bfloat16, 100.0, 1.0), (torch.float32, 1000.0, 0.01)])
def test_an_unstable_formula_is_said_not_judged_rather_than_passed(monkeypatch, dtype, low, span):
    # Its allowance is its own rounding: a correct run of E[x²] − E[x]² lands as far from float64 as
    # the grads are large, so any answer of that size passed, silently (3.9e5 off in bfloat16).
    g = torch.Generator().manual_seed(0)
    x = (low + span * torch.rand(4, 8, dtype=torch.float64, generator=g)).to(dtype).requires_grad_()
    v = torch.randn(4, 8, generator=g).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stable formula is judged: no warning
        gradprops.assert_low_precision(_LayerNorm.apply, (x,), seed=v)
    monkeypatch.setattr(_LayerNorm, "one_pass", True)
    with pytest.warns(gradprops.NotChecked, match=rf"grad of input 0: not judged: computed in {dtype}, this "
                                                  r"formula lands up to .* \(its own rounding: numerically unstable"):
        gradprops.assert_low_precision(_LayerNorm.apply, (x,), seed=v)


def test_where_nothing_could_be_judged_the_property_did_not_run():
    # A one-pass variance as the output itself: outputs and grads alike are their formula's rounding.
    g = torch.Generator().manual_seed(0)
    x = (100 + torch.rand(4, 8, dtype=torch.float64, generator=g)).to(torch.bfloat16).requires_grad_()
    v = torch.randn(4, generator=g).to(torch.bfloat16)
    with pytest.warns(gradprops.NotChecked, match=r"low_precision was not checked: output 0: not judged.*; grad of "
                                                  r"input 0: not judged"):
        gradprops.assert_low_precision(lambda t: (t * t).mean(-1) - t.mean(-1) ** 2, (x,), seed=v)


def test_a_fused_kernels_steps_round_to_the_type_it_computes_in():
    # layer_norm of a constant float16 row: torch's kernel computes in float32 and returns -4.2e-7
    # (x·rstd - mean·rstd, each ~27.6); the simulation rounded its step x - mean to float16, which
    # flushed that step's error to 0 and allowed nothing (float16 catalogue sweep, seed 14).
    x = torch.tensor([0.087158203125], dtype=torch.float16).as_strided((2,), (0,), 0).requires_grad_()
    v = torch.tensor([-0.00732421875, 0.5361328125], dtype=torch.float16)
    assert F.layer_norm(x, (2,)).abs().max() > 0
    gradprops.assert_low_precision(lambda t: F.layer_norm(t, t.shape[-1:]), (x,), seed=v)
