"""The vmap property: a custom Function's batching rule and its backward under torch.func.vmap."""

from __future__ import annotations

import pytest
import torch

import gradprops
from gradprops import strategies as gst
from tests.functions import Sin as OldStyle  # forward(ctx, x): old-style


class NoRule(torch.autograd.Function):
    """sin without a batching rule."""

    @staticmethod
    def forward(x):
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()


class Sin(NoRule):
    """sin with a correct vmap staticmethod."""

    @staticmethod
    def vmap(info, in_dims, x):
        return Sin.apply(x), in_dims[0]


class ScaledRule(Sin):
    """Its vmap rule is 1.41× off: every other property passes (they never call it)."""

    @staticmethod
    def vmap(info, in_dims, x):
        return ScaledRule.apply(x) * 1.41, in_dims[0]


class MixedRule(Sin):
    """Its vmap rule swaps the samples of the batch."""

    @staticmethod
    def vmap(info, in_dims, x):
        return MixedRule.apply(x.movedim(in_dims[0], 0).flip(0)), 0


class GeneratedRule(NoRule):
    generate_vmap_rule = True


class ItemInBackward(GeneratedRule):
    """Scales its grad by a Python float read with .item(): fine per sample, impossible under vmap."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * (1.0 + 0.0 * x.sum().item())


def _under_torch_func(t: torch.Tensor) -> bool:
    return torch._C._functorch.is_functorch_wrapped_tensor(t)


class WithJvp(Sin):
    """sin with a correct jvp."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * x.cos()


class JvpOffUnderTorchFunc(WithJvp):
    """A jvp with a path of its own for torch.func's wrapped tensors (as a kernel dispatching on
    tensor type does), 2% off there: forward-mode AD with dual tensors never takes it."""

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * x.cos() * (1.02 if _under_torch_func(t) else 1.0)


class BackwardOffUnderTorchFunc(WithJvp):
    """Its backward is 2% off on torch.func's wrapped tensors only."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos() * (1.02 if _under_torch_func(g) else 1.0)


VECTORS = gst.inputs("(n)")


@pytest.mark.parametrize("function", [Sin, GeneratedRule], ids=lambda f: f.__name__)
def test_a_correct_batching_rule_passes_and_is_checked(function: type[torch.autograd.Function]) -> None:
    report = gradprops.check(function.apply, VECTORS, seed=0, max_examples=30)
    assert report.properties["vmap"].examples > 0 and not report.properties["vmap"].skipped


def test_a_wrong_vmap_rule_fails_only_vmap() -> None:
    with pytest.raises(gradprops.PropertyFailure) as failure:
        gradprops.check(ScaledRule.apply, VECTORS, seed=0, max_examples=30)
    assert failure.value.property == "vmap"
    assert "the batching rule of ScaledRule" in str(failure.value) and "vmap(f)" in str(failure.value)
    gradprops.check(ScaledRule.apply, VECTORS, seed=0, max_examples=30, properties="-vmap")  # the rest pass


@pytest.mark.parametrize(("function", "headline"), [
    (JvpOffUnderTorchFunc, "torch.func.jvp does not equal forward-mode AD"),
    (BackwardOffUnderTorchFunc, "does not equal backward(v)"),  # found first under vmap of torch.func.vjp
], ids=["jvp", "vjp"])
def test_torch_func_front_ends_that_disagree_with_torch_autograd_are_found(function, headline) -> None:
    gradprops.check(WithJvp.apply, VECTORS, seed=0, max_examples=20, properties=["vmap"])
    with pytest.raises(gradprops.PropertyFailure, match="vmap") as failure:
        gradprops.check(function.apply, VECTORS, seed=0, max_examples=20, properties=["vmap"])
    assert headline in str(failure.value)


def test_a_rule_that_mixes_samples_is_found() -> None:
    with pytest.raises(gradprops.PropertyFailure, match="the batching rule of MixedRule"):
        gradprops.check(MixedRule.apply, gst.inputs("(n)", min_side=1), seed=0, max_examples=30,
                        properties=["vmap"])


def test_a_backward_that_cannot_run_batched_is_a_finding() -> None:
    raised = r"raised during torch\.func\.vmap of torch\.func\.vjp: RuntimeError: vmap: .*\.item\(\)"
    with pytest.raises(gradprops.PropertyFailure, match=raised):
        gradprops.check(ItemInBackward.apply, VECTORS, seed=0, max_examples=30, properties=["vmap"])


@pytest.mark.parametrize(
    ("fn", "reason"),
    [(NoRule.apply, "NoRule has no batching rule"), (OldStyle.apply, "Sin is an old-style autograd.Function"),
     (torch.sin, "no custom torch.autograd.Function in the graph")],
    ids=["no rule", "old style", "no custom Function"],
)
def test_where_vmap_cannot_apply_it_says_why_once_and_the_rest_runs(fn, reason) -> None:
    report = gradprops.check(fn, VECTORS, seed=0, max_examples=20)
    skipped = report.properties["vmap"].skipped
    assert report.properties["vmap"].examples == 0 and any(reason in why for why in skipped), skipped
    assert report.properties["seed_linearity"].examples == report.examples


def test_the_helper() -> None:
    x = (torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True),)
    gradprops.assert_vmap(Sin.apply, x)
    with pytest.raises(gradprops.PropertyFailure, match="batching rule of ScaledRule"):
        gradprops.assert_vmap(ScaledRule.apply, x)
    with pytest.raises(gradprops.PropertyFailure, match="vmap was asked for, and NoRule has no batching rule"):
        gradprops.assert_vmap(NoRule.apply, x)  # the helper asks for vmap


class Layer(torch.nn.Module):
    """A module around a custom Function: vmap batches its inputs, its parameters stay shared."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([1.5, -0.5, 2.0], dtype=torch.float64))

    def forward(self, x):
        return GeneratedRule.apply(x * self.weight)


def test_a_module_is_batched_over_its_inputs_and_its_parameters() -> None:
    report = gradprops.check(Layer(), gst.inputs("(3)"), seed=0, max_examples=20, properties=["vmap"])
    assert report.properties["vmap"].examples == report.examples > 0


def test_vmap_asked_for_by_name_fails_where_the_function_cannot_run_under_it() -> None:
    with pytest.raises(gradprops.PropertyFailure, match="vmap was asked for, and NoRule has no batching rule"):
        gradprops.check(NoRule.apply, VECTORS, seed=0, max_examples=5, properties=["vmap"])
    with pytest.raises(gradprops.PropertyFailure, match="vmap was asked for, and Sin is an old-style"):
        gradprops.assert_vmap(OldStyle.apply, (torch.ones(2, dtype=torch.float64, requires_grad=True),))
    with pytest.warns(gradprops.NotChecked, match=r"vmap was asked for but ran on no example: no custom"):
        gradprops.check(torch.sin, VECTORS, seed=0, max_examples=5, properties=["vmap"])
    gradprops.autograd_test(NoRule.apply, inputs=VECTORS)(seed=0, max_examples=5)  # not named: a skip, no failure


def test_the_reproducer_of_vmap_asked_for_runs_as_printed() -> None:
    # It called assert_vmap(fn, inputs, seed=v) with no v: that failure comes before any seed.
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(NoRule.apply, VECTORS, seed=0, max_examples=5, properties=["vmap"])
    repro = caught.value.case.repro("vmap")
    assert "gradprops.assert_vmap(fn, inputs)" in repro
    with pytest.raises(gradprops.PropertyFailure, match="vmap was asked for, and NoRule has no batching rule"):
        exec(repro.replace("fn = ...", "fn = NoRule.apply  #"), {"NoRule": NoRule})
