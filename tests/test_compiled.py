"""compiled_matches_eager: torch.compile(fn) against fn, per backend, opt-in."""

import pytest
import torch
from functorch.compile import make_boxed_func
from torch._dynamo.backends.common import aot_autograd

import gradprops
from gradprops import strategies as gst
from gradprops.properties.registry import select


def _scaled(factor: float):
    """An AOTAutograd compiler that runs the traced graph and scales every tensor it returns."""
    def compiler(gm, example_inputs):
        def run(*args):
            return [o * factor if isinstance(o, torch.Tensor) else o for o in gm(*args)]
        return make_boxed_func(run)
    return compiler


def _unchanged(gm, example_inputs):
    return make_boxed_func(gm)


forward_one_percent_off = aot_autograd(fw_compiler=_scaled(1.01), bw_compiler=_unchanged)
backward_one_percent_off = aot_autograd(fw_compiler=_unchanged, bw_compiler=_scaled(1.01))


def sin_times_x(t):
    return t.sin() * t


@pytest.mark.parametrize(("backend", "where"), [(forward_one_percent_off, "output 0"),
                                                (backward_one_percent_off, "grad of input 0")])
def test_a_backend_one_percent_off_is_found(backend, where):
    with pytest.raises(gradprops.PropertyFailure, match="compiled_matches_eager") as failure:
        gradprops.check(sin_times_x, gst.inputs("()"), properties=["compiled_matches_eager"],
                        compile_backends=[backend], max_examples=20, seed=0)
    message = str(failure.value)
    assert f"\n  {where}:" in message and "does not give what fn gives eagerly" in message
    assert "compile_backends=(compiler_fn,)" in message  # the replay names the backend callable


def test_a_correct_function_passes_with_aot_eager_on_every_example():
    report = gradprops.check(sin_times_x, gst.inputs("(m,n)"), properties=["compiled_matches_eager"],
                             compile_backends=["aot_eager"], max_examples=15, seed=0)
    assert report.ran("compiled_matches_eager") == 15


def test_inductor_matches_eager():
    report = gradprops.check(sin_times_x, gst.inputs("(n)", max_side=4, large=False),
                             properties=["compiled_matches_eager"], compile_backends=["inductor"],
                             max_examples=4, seed=0)
    assert report.ran("compiled_matches_eager") == 4


def test_a_function_dynamo_never_compiles_is_skipped_not_passed():
    def never(t):  # all of it inside a function Dynamo must not trace: it runs eagerly
        return torch.compiler.disable(sin_times_x)(t)

    with pytest.warns(gradprops.NotChecked, match="compiled_matches_eager was asked for but ran on no example"):
        report = gradprops.check(never, gst.inputs("()"), properties=["compiled_matches_eager"],
                                 compile_backends=["aot_eager"], max_examples=5, seed=0)
    skipped = report.properties["compiled_matches_eager"].skipped
    assert sum(skipped.values()) == 5 and all("no compiled graph ran" in reason for reason in skipped)


def test_it_is_opt_in():
    assert "compiled_matches_eager" not in [p.name for p in select(None)]
    assert [p.name for p in select(["compiled_matches_eager"])] == ["compiled_matches_eager"]
    assert "compiled_matches_eager" not in gradprops.check(torch.sin, gst.inputs("()"), max_examples=2,
                                                            seed=0).properties


def test_an_unknown_backend_is_a_usage_error():
    with pytest.raises(gradprops.UsageError, match=r"unknown torch\.compile backend 'inductr'"):
        gradprops.check(torch.sin, gst.inputs("()"), compile_backends=["inductr"])
    x = torch.ones(2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.UsageError, match="backends is empty"):
        gradprops.assert_compiled_matches_eager(torch.sin, (x,), backends=[])


def test_the_helper_reports_the_backend_and_the_shrunk_case():
    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    gradprops.assert_compiled_matches_eager(sin_times_x, (x,), backends=["aot_eager"])
    with pytest.raises(gradprops.PropertyFailure, match=r"backend: compiler_fn") as failure:
        gradprops.assert_compiled_matches_eager(sin_times_x, (x,), backends=[backward_one_percent_off])
    assert "compiled (compiler_fn)" in str(failure.value) and "eager" in str(failure.value)


def test_autograd_test_takes_the_backends_to_compare_with_eager():
    from gradprops.pytest_support import autograd_test

    declared = autograd_test(sin_times_x, inputs="()", properties=["compiled_matches_eager"],
                             compile_backends=[backward_one_percent_off])
    with pytest.raises(gradprops.PropertyFailure, match="grad of input 0") as failure:
        declared(seed=0, max_examples=20)
    assert "compile_backends=(compiler_fn,)" in str(failure.value)
    with pytest.raises(gradprops.UsageError, match=r"autograd_test: unknown torch\.compile backend 'inductr'"):
        autograd_test(sin_times_x, inputs="()", compile_backends=["inductr"])
