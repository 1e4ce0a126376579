"""What the target sees: every tensor leaf of a pytree output, and clear errors for what it cannot check."""

import warnings

import pytest
import torch

import gradprops
from gradprops import strategies as gst
from gradprops.target import Target

pytestmark = pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")

x64 = lambda *s: torch.randn(s, dtype=torch.float64).requires_grad_()  # noqa: E731


class WrongCos(torch.autograd.Function):
    """cos(x) whose backward ignores its seed: it returns -sin(x) whatever grad_output is."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.cos()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -x.sin()


def nested(x):
    """A right first output and a wrong one nested a level down."""
    return x.sin(), (WrongCos.apply(x),)


def in_a_dict(x):
    return {"right": x.sin(), "wrong": [WrongCos.apply(x)]}


@pytest.mark.parametrize("fn", [nested, in_a_dict])
def test_a_wrong_grad_in_a_nested_output_fails_check(fn):
    with pytest.raises(gradprops.PropertyFailure):
        gradprops.check(fn, gst.inputs("()"), max_examples=20, seed=0)


@pytest.mark.parametrize(("fn", "right"), [
    (nested, lambda t: (t.sin(), (t.cos(),))),
    (in_a_dict, lambda t: {"right": t.sin(), "wrong": [t.cos()]}),
])
def test_a_wrong_grad_in_a_nested_output_fails_the_jacobian_helper(fn, right):
    x = x64(3)
    seed = (torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64))  # one per tensor leaf
    gradprops.assert_vjp_matches_jacobian(right, (x,), seed)
    with pytest.raises(gradprops.PropertyFailure, match="vjp_matches_jacobian"):
        gradprops.assert_vjp_matches_jacobian(fn, (x,), seed)


def test_correct_nested_outputs_pass_and_every_tensor_leaf_is_an_output():
    fn = lambda t: {"a": t.sin(), "b": (t.cos(), 3, None, [t.exp()]), "c": "text"}  # noqa: E731
    target = Target(fn, (x64(2),))
    assert len(target.outputs([v.value for v in target.variables])) == 3
    gradprops.check(fn, gst.inputs("()"), max_examples=10, seed=0)


def test_non_differentiable_leaves_are_ignored():
    fn = lambda t: (t.sin(), {"index": t.argmax(), "value": t.max()})  # noqa: E731
    target = Target(fn, (x64(4),))
    assert len(target.outputs([v.value for v in target.variables])) == 2


def test_a_non_tensor_return_is_a_usage_error():
    with pytest.raises(gradprops.UsageError, match="returned a float"):
        gradprops.assert_ones_seed_matches_sum(lambda t: t.sum().item(), (x64(3),))
    with pytest.raises(gradprops.UsageError, match="returned no tensors"):
        gradprops.assert_ones_seed_matches_sum(lambda t: {"n": 3}, (x64(3),))


META = torch.randn(3, device="meta", requires_grad=True)
with warnings.catch_warnings():  # torch warns that the strided nested layout is a prototype (-W error)
    warnings.simplefilter("ignore", UserWarning)
    NESTED = torch.nested.nested_tensor([torch.randn(2), torch.randn(3)], dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        (META, "input 0 is on the meta device"),
        ((x64(3), META), "input 1 is on the meta device"),
        (NESTED, "input 0 is a nested tensor"),
        ((NESTED,), "pass its components as separate inputs (x.unbind()) or padded"),
    ],
)
@pytest.mark.parametrize("how", ["helper", "check"])
def test_meta_and_nested_inputs_are_usage_errors(inputs, says, how):
    with pytest.raises(gradprops.UsageError) as info:
        if how == "helper":
            gradprops.assert_ones_seed_matches_sum(torch.sin, inputs)
        else:
            gradprops.check(torch.sin, inputs, max_examples=2, seed=0)
    assert says in str(info.value)


def test_a_module_on_the_meta_device_is_a_usage_error():
    with pytest.raises(gradprops.UsageError, match=r"parameter 'weight' is on the meta device.*to_empty"):
        gradprops.assert_ones_seed_matches_sum(torch.nn.Linear(3, 2, device="meta"), (x64(4, 3),))


def test_a_nested_output_is_a_usage_error():
    fn = lambda t: torch.nested.as_nested_tensor([t.sin(), t[:1].cos()])  # noqa: E731
    with pytest.raises(gradprops.UsageError, match=r"returned a nested tensor.*to_padded_tensor"):
        gradprops.assert_ones_seed_matches_sum(fn, (x64(3),))


def leaves_grad_off(t):
    y = t.sin()
    torch.set_grad_enabled(False)
    return y


def leaves_grad_on(t):
    torch.set_grad_enabled(True)
    return t.sin()


@pytest.mark.parametrize("how", ["helper", "check"])
def test_a_function_that_leaves_grad_mode_off_fails_and_grad_mode_is_restored(how):
    with pytest.raises(gradprops.PropertyFailure, match="switched grad mode off and left it so"):
        if how == "helper":
            gradprops.assert_ones_seed_matches_sum(leaves_grad_off, (x64(3),))
        else:
            gradprops.check(leaves_grad_off, gst.inputs("()"), max_examples=5, seed=0)
    assert torch.is_grad_enabled()


def test_a_function_that_switches_grad_mode_on_under_no_grad_is_caught():
    target = Target(leaves_grad_on, (x64(3),))
    target.outputs([v.value for v in target.variables])  # decides the outputs, grad enabled
    with torch.no_grad():
        with pytest.raises(Exception, match="switched grad mode on and left it so"):
            target.outputs([v.value for v in target.variables])
        assert not torch.is_grad_enabled()


def test_grad_mode_restored_inside_the_function_is_fine():
    def scoped(t):
        with torch.no_grad():
            assert not t.sin().requires_grad
        return t.sin()

    gradprops.check(scoped, gst.inputs("()"), max_examples=10, seed=0)


class _ScaleWrongInScale(torch.autograd.Function):
    """x * scale, with the grad of scale 10% off."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x, scale)
        return x * scale

    @staticmethod
    def backward(ctx, g):
        x, scale = ctx.saved_tensors
        return g * scale, (g * x * 1.1).sum_to_size(scale.shape)


def _keyword_only(*, x, scale):
    return _ScaleWrongInScale.apply(x, scale)


def test_a_dict_of_inputs_is_passed_as_keyword_arguments_and_named_by_them():
    inputs = {"x": x64(3), "scale": torch.tensor([0.5], dtype=torch.float64, requires_grad=True)}
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(_keyword_only, inputs, seed=0, max_examples=20)
    text = str(caught.value)
    assert "grad of input 'scale'" in text
    assert "input 'x': shape (3,)" in text
    repro = text.split("or run the helper on the shrunk case:\n")[1]
    source = "\n".join(line[4:] for line in repro.splitlines())
    with pytest.raises(gradprops.PropertyFailure):  # the repro writes the inputs as a dict, and fails again
        exec(source.replace("fn = ...", "fn = _keyword_only  #"), {"_keyword_only": _keyword_only})


def test_a_strategy_may_draw_keyword_inputs():
    from gradprops import strategies as gst

    keyword = gst.inputs("(n),(n)").map(lambda xs: {"input": xs[0], "other": xs[1]})
    assert gradprops.check(torch.mul, keyword, seed=0, max_examples=10).ran("seed_linearity") == 10


class _SumWrongAlongDim1(torch.autograd.Function):
    """x.sum(dim), whose backward is 1% off when dim is 1 (or -1 of a 2-d x): a bug only some draws reach."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim, ctx.shape = dim, x.shape
        return x.sum(dim)

    @staticmethod
    def backward(ctx, g):
        grad = g.unsqueeze(ctx.dim).expand(ctx.shape)
        return grad * 1.01 if ctx.dim % len(ctx.shape) == 1 else grad, None


def _summed(input, dim, scale=1.0):
    return _SumWrongAlongDim1.apply(input, dim) * scale


def test_drawn_keyword_arguments_shrink_with_the_case_and_are_written_out():
    from hypothesis import strategies as st

    from gradprops import strategies as gst

    cases = gst.inputs("(m,n)", names=["input"], arguments={
        "dim": lambda xs: st.integers(-xs[0].dim(), xs[0].dim() - 1), "scale": st.sampled_from([1.0, 2.5])})
    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(_summed, cases, seed=0, max_examples=50)
    failure = caught.value
    dim = failure.case.arguments["dim"]
    assert dim in (1, -1) and failure.case.arguments["scale"] == 1.0  # shrunk to the plain value
    text = str(failure)
    assert f"keyword arguments: dim={dim}, scale=1.0" in text
    repro = text.split("or run the helper on the shrunk case:\n")[1]
    source = "\n".join(line[4:] for line in repro.splitlines())
    assert f"'dim': {dim}, 'scale': 1.0}}" in source
    with pytest.raises(gradprops.PropertyFailure):  # the repro passes them again, and fails again
        exec(source.replace("fn = ...", "fn = _summed  #"), {"_summed": _summed})
    # correct along every dim: passes with the same drawn arguments
    assert gradprops.check(lambda input, dim, scale: input.sum(dim) * scale, cases, seed=0,
                           max_examples=20).ran("seed_linearity") == 20


def test_a_partial_is_named_by_what_it_binds():
    from functools import partial

    with pytest.raises(gradprops.PropertyFailure, match=r"function: functools.partial\(tests.test_target._summed, "
                                                        r"dim=1\)"):
        gradprops.assert_finite_differences(partial(_summed, dim=1), (x64(2, 3),))


@pytest.mark.parametrize(("inputs", "message"), [({1: x64(2)}, "must be an argument name"),
                                                  ({}, "no inputs were given"),
                                                  ({"x": 3.0}, r"inputs \['x'\] hold no tensor"),
                                                  ({"x": x64(2), "f": abs}, "input 'f' is a builtin_function")])
def test_bad_keyword_inputs_are_usage_errors(inputs, message):
    with pytest.raises(gradprops.UsageError, match=message):
        gradprops.assert_ones_seed_matches_sum(torch.sin, inputs)


def test_a_function_that_returns_none_on_some_inputs_is_a_finding_shown_with_the_shrunk_case():
    from gradprops import strategies as gst

    def none_past_three(x):
        return None if x.numel() > 3 else x.sin()

    with pytest.raises(gradprops.PropertyFailure) as caught:
        gradprops.check(none_past_three, gst.inputs("(n)", max_side=6), seed=0, max_examples=50)
    failure = caught.value
    assert "on this case, the function under test returned None" in failure.detail
    (_, x), = failure.case.variables
    assert x.numel() == 4  # shrunk to the smallest input it happens on
    # returning None on every input is the caller's mistake: a UsageError, with the smallest case
    with pytest.raises(gradprops.UsageError, match=r"returned None.*on every example tried"):
        gradprops.check(lambda x: None, gst.inputs("(n)"), seed=0, max_examples=10)


class _AdjointLike(torch.autograd.Function):
    """Like an ODE solver's adjoint: forward without a graph, backward re-runs the module's own forward
    and differentiates the parameters it read from module.parameters() itself."""

    @staticmethod
    def forward(ctx, x, module, *params):
        ctx.module, ctx.params = module, params
        ctx.save_for_backward(x)
        with torch.no_grad():
            return module.inner(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        trained = [p for p in ctx.params if p.requires_grad]
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            grads = iter(torch.autograd.grad(ctx.module.inner(x), (x, *trained), g, allow_unused=True))
        dx = next(grads)
        return (dx, None, *(next(grads) if p.requires_grad else None for p in ctx.params))


class _AdjointScale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=torch.float64))

    def inner(self, x):
        return x * self.weight

    def forward(self, x):
        return _AdjointLike.apply(x, self, *self.parameters())


def test_a_module_that_differentiates_its_own_parameters_is_not_called_wrong():
    from gradprops import strategies as gst

    module = _AdjointScale()
    x = x64(3, 2)
    module(x).sum().backward()  # correct when used as its library uses it
    assert torch.equal(module.weight.grad, x.detach().sum(0))
    with pytest.raises(gradprops.UsageError, match=r"parameter\(s\) 'weight' get other grads when it runs with its "
                                                   r"own parameters"):
        gradprops.assert_finite_differences(module, (x,))
    with pytest.raises(gradprops.UsageError, match=r"differentiates module.parameters\(\) itself"):
        gradprops.check(module, gst.inputs("(n,2)"), seed=0, max_examples=10)
    module.weight.requires_grad_(False)  # the advice: input grads with the parameters frozen
    assert gradprops.check(module, gst.inputs("(n,2)"), seed=0, max_examples=10).ran("finite_differences") == 10


def test_a_module_whose_parameter_grad_is_really_wrong_is_still_a_finding():
    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=torch.float64))

        def forward(self, x):
            return _ScaleWrongInScale.apply(x, self.weight)

    with pytest.raises(gradprops.PropertyFailure, match="finite_differences"):
        gradprops.assert_finite_differences(Scale(), (x64(3, 2),))
