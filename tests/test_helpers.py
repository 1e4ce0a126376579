"""The three mission helpers: pass on correct functions, fail with the right property on broken ones."""

from __future__ import annotations

import pytest
import torch

import gradprops
from tests.functions import (
    IgnoresSeed,
    IgnoresSeedStrides,
    MulAdd,
    NonlinearInSeed,
    Sin,
    SinCos,
    WritesIntoSeed,
)

f64 = torch.float64


def leaf(*shape: int, dtype: torch.dtype = f64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, dtype=dtype, generator=g).requires_grad_()


def rand(*shape: int, seed: int = 1, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def linear_module() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).double()


CORRECT = {
    "torch.sin": (torch.sin, lambda: (leaf(2, 3),), lambda: rand(2, 3)),
    "matmul": (torch.matmul, lambda: (leaf(2, 3), leaf(3, 4, seed=1)), lambda: rand(2, 4)),
    "broadcast-mul": (torch.mul, lambda: (leaf(2, 1), leaf(3, seed=1)), lambda: rand(2, 3)),
    "softmax": (lambda x: torch.softmax(x, -1), lambda: (leaf(2, 5),), lambda: rand(2, 5)),
    "Sin.apply": (Sin.apply, lambda: (leaf(4),), lambda: rand(4)),
    "MulAdd.apply (two inputs)": (MulAdd.apply, lambda: (leaf(3), leaf(3, seed=1)), lambda: rand(3)),
    "SinCos.apply (two outputs)": (SinCos.apply, lambda: (leaf(3),), lambda: (rand(3), rand(3, seed=2))),
    "nn.Linear": (linear_module(), lambda: (leaf(5, 3),), lambda: rand(5, 2)),
    "float32 sum-reduction": (lambda x: x.sum(0), lambda: (leaf(50, 4, dtype=torch.float32),),
                              lambda: rand(4, dtype=torch.float32)),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_functions_pass_every_helper(name):
    fn, inputs, seed = CORRECT[name]
    s = seed()
    u = s if isinstance(s, tuple) else (s,)
    v = tuple(-2 * t + 0.5 for t in u)
    gradprops.assert_seed_linearity(fn, inputs(), seeds=(u, v), coefficients=(2.0, -0.5))
    gradprops.assert_ones_seed_matches_sum(fn, inputs())
    gradprops.assert_vjp_matches_jacobian(fn, inputs(), s)
    # a transposed (non-contiguous) seed as well, where the output is 2-d
    if isinstance(s, torch.Tensor) and s.dim() == 2:
        gradprops.assert_vjp_matches_jacobian(fn, inputs(), s.t().contiguous().t())


class AbsGrad(torch.autograd.Function):
    """Identity forward whose backward takes |grad|: wrong only where it is applied."""

    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.abs()


class LinearWithBrokenWeightGrad(torch.nn.Linear):
    def forward(self, x):
        return torch.nn.functional.linear(x, AbsGrad.apply(self.weight), self.bias)


def test_linear_module_is_checked_with_respect_to_its_parameters():
    """Breaking only the weight's grad is caught: parameters are variables too."""
    torch.manual_seed(0)
    module = LinearWithBrokenWeightGrad(3, 2).double()
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_seed_linearity(module, (leaf(5, 3),), seeds=(rand(5, 2), rand(5, 2, seed=3)))
    assert "grad of parameter 'weight'" in str(info.value)
    assert "grad of input 0" not in str(info.value)


def test_seed_ignored_fails_linearity_with_a_hint():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_seed_linearity(IgnoresSeed.apply, (leaf(4),), seeds=(rand(4), rand(4, seed=2)))
    failure = info.value
    text = str(failure)
    assert failure.property == "seed_linearity"
    assert "property 'seed_linearity' failed" in text
    assert "backward is not linear in its seed" in text
    assert "ignores its seed" in text
    assert "Mismatched elements: 4 / 4" in text
    assert "grad of input 0" in text
    assert "shape (4,), dtype torch.float64, strides (1,) contiguous" in text
    assert failure.max_abs_diff > 0.1
    assert "gradprops.assert_seed_linearity(fn, inputs, seeds=(u, v)" in text


def test_seed_ignored_still_passes_ones_seeding():
    """The bug the notes warn about: right for y.sum().backward(), wrong for real seeds."""
    gradprops.assert_ones_seed_matches_sum(IgnoresSeed.apply, (leaf(4),))


def test_nonlinear_in_seed_fails_linearity():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_seed_linearity(NonlinearInSeed.apply, (leaf(6),), seeds=(rand(6), rand(6, seed=2)))
    assert info.value.property == "seed_linearity"
    m = info.value.mismatch
    assert m is not None and m.name == "grad of input 0" and m.mismatched >= 1
    assert f"at index {m.worst_index}" in str(info.value)


def test_nonlinear_in_seed_passes_when_seeds_are_positive():
    """Only signed seeds and a negative coefficient show an abs(): why the defaults are signed."""
    u, v = rand(6).abs(), rand(6, seed=2).abs()
    gradprops.assert_seed_linearity(NonlinearInSeed.apply, (leaf(6),), seeds=(u, v), coefficients=(2.0, 3.0))


@pytest.mark.parametrize(
    "helper",
    [
        lambda fn, x, u, v: gradprops.assert_seed_linearity(fn, x, seeds=(u, v)),
        lambda fn, x, u, v: gradprops.assert_vjp_matches_jacobian(fn, x, v),
    ],
    ids=["seed_linearity", "vjp_matches_jacobian"],
)
def test_writing_into_the_seed_is_caught_by_the_helper_that_sees_it(helper, request):
    given = (rand(3), rand(3, seed=2))
    kept = [s.clone() for s in given]
    with pytest.raises(gradprops.PropertyFailure) as info:
        helper(WritesIntoSeed.apply, (leaf(3),), *given)
    text = str(info.value)
    assert info.value.property == request.node.callspec.id
    assert "backward wrote into its seed (grad_output) in place" in text
    assert "seed (output 0)" in text
    # what backward overwrote is put back: the caller's seeds are as they were (a user trial found the
    # caller's seed overwritten), and the case shows the seeds given, not what backward left of them
    assert all(torch.equal(s, k) for s, k in zip(given, kept))
    shown = dict(info.value.case.seeds)
    assert "seed v" in shown and all(torch.equal(shown[f"seed {name}"], k)
                                     for name, k in zip("uv", kept) if f"seed {name}" in shown)


def test_writing_into_the_ones_seed_is_caught_by_ones_seeding():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_ones_seed_matches_sum(WritesIntoSeed.apply, (leaf(3),))
    assert info.value.property == "ones_seed_matches_sum"
    assert "backward wrote into its seed (grad_output) in place" in str(info.value)


def test_strides_ignored_fails_the_jacobian_check_on_a_transposed_seed():
    seed = rand(4, 3).t()  # shape (3, 4), strides (1, 3)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_vjp_matches_jacobian(IgnoresSeedStrides.apply, (leaf(3, 4),), seed)
    text = str(info.value)
    assert info.value.property == "vjp_matches_jacobian"
    assert "backward(v) does not equal vᵀJ" in text
    assert "strides (1, 3) non-contiguous" in text
    assert ".as_strided((3, 4), (1, 3), 0)" in text  # the repro rebuilds the layout


def test_strides_ignored_fails_ones_seeding_through_the_expanded_seed():
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_ones_seed_matches_sum(IgnoresSeedStrides.apply, (leaf(3, 4),))
    assert info.value.property == "ones_seed_matches_sum"
    assert "out of bounds" in str(info.value)


def test_an_error_in_forward_is_a_finding_with_the_original_chained():
    def explodes(x):
        raise ValueError("boom in forward")

    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_ones_seed_matches_sum(explodes, (leaf(2),))
    assert "raised during forward: ValueError: boom in forward" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_repro_snippet_reproduces_the_failure():
    """The 'How to reproduce' block, with fn filled in, raises the same failure."""
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_seed_linearity(NonlinearInSeed.apply, (leaf(3),), seeds=(rand(3), rand(3, seed=2)))
    snippet = str(info.value).split("How to reproduce:\n", 1)[1]
    source = "\n".join(line[2:] for line in snippet.splitlines())
    namespace = {"NonlinearInSeed": NonlinearInSeed}
    with pytest.raises(gradprops.PropertyFailure, match="seed_linearity"):
        exec(source.replace("fn = ...", "fn = NonlinearInSeed.apply  #"), namespace)


def test_user_tensors_are_left_untouched():
    x = leaf(3)
    gradprops.assert_seed_linearity(Sin.apply, (x,), seeds=(rand(3), rand(3, seed=2)))
    assert x.grad is None


def test_tolerance_override_is_honoured():
    fn = lambda x: x.float().sum(0)  # noqa: E731 float32 accumulation of float64 inputs
    x = leaf(200, 3)
    gradprops.assert_seed_linearity(fn, (x,), seeds=(rand(3, dtype=torch.float32),
                                                     rand(3, seed=2, dtype=torch.float32)))
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_seed_linearity(IgnoresSeed.apply, (leaf(3),), seeds=(rand(3), rand(3, seed=2)),
                                        rtol=0.0, atol=0.0)
    assert "rtol=0, atol=0 × magnitude (given)" in str(info.value)


def test_every_seed_written_into_is_put_back_and_the_report_shows_what_was_written():
    class WritesBoth(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0, x * 2.0

        @staticmethod
        def backward(ctx, g1, g2):
            g1.mul_(2)
            g2.mul_(3)
            return g1 + 2 * g2

    u1, u2 = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([5.0, 7.0], dtype=torch.float64)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_vjp_matches_jacobian(WritesBoth.apply, (leaf(2),), (u1, u2))
    # the report's "after" is what backward wrote, not the values put back since
    assert "after: [2, 4]" in str(info.value) and "before: [1, 2]" in str(info.value)
    assert torch.equal(u1, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.equal(u2, torch.tensor([5.0, 7.0], dtype=torch.float64))  # the second one too


def test_an_expanded_seed_written_through_a_view_is_put_back():
    class WritesThroughAView(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            g[0].mul_(10)
            return g

    base = torch.tensor([1.0], dtype=torch.float64)
    with pytest.raises(gradprops.PropertyFailure, match="backward wrote into its seed"):
        gradprops.assert_vjp_matches_jacobian(WritesThroughAView.apply, (leaf(2),), base.expand(2))
    assert base.item() == 1.0
