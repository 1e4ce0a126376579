"""Repro snippets and Case sections: valid Python for every shape of case, readable multi-line functions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gradprops
from gradprops.checking import _selecting
from gradprops.describe import LITERAL, Case, tensor_literal
from gradprops.properties.registry import named, select

PROGRAM = "def f(x0):\n    v1 = torch.sin(x0)\n    return v1\n"


def big_case(function: str = "mypkg.ops.f") -> Case:
    x = torch.randn(3, 4, 6, dtype=torch.float64).mT.requires_grad_()  # 72 elements, non-contiguous
    y = torch.ones(2, dtype=torch.float32)
    return Case(function=function, variables=[("input 0", x)], fixed_inputs=[("input 1", y)],
                seeds=[("seed u", torch.zeros(3, 6, 4))], inputs_source=[(0, x), (1, y)],
                helper_call="gradprops.assert_seed_linearity(fn, inputs, seeds=(u, v))",
                seed_literals={"u": tensor_literal(torch.zeros(3, 6, 4)), "v": tensor_literal(torch.zeros(2))})


def test_a_repro_with_elided_tensors_compiles_and_says_so() -> None:
    source = big_case().repro("seed_linearity")
    compile(source, "<repro>", "exec")
    assert f"more than {LITERAL} elements are written as random values" in source
    namespace: dict[str, object] = {}
    runnable = source.replace("gradprops.assert_seed_linearity", "(lambda *a, **k: None)")
    exec(runnable.replace("fn = ...", "fn = None  #"), {"torch": torch, "gradprops": gradprops}, namespace)
    x, y = namespace["inputs"]  # type: ignore[misc]
    assert x.shape == (3, 6, 4) and x.stride() == (24, 1, 6) and x.requires_grad and x.dtype == torch.float64
    assert torch.equal(y, torch.ones(2))


def test_a_multi_line_function_keeps_its_lines_in_the_case_and_is_commented_in_the_repro() -> None:
    case = big_case(PROGRAM)
    assert "  function: def f(x0):\n        v1 = torch.sin(x0)\n        return v1\n" in case.render() + "\n"
    source = case.repro("seed_linearity")
    compile(source, "<repro>", "exec")
    assert "# fn: def f(x0):\n#     v1 = torch.sin(x0)\n#     return v1\nfn = ..." in source


def test_a_case_without_a_helper_call_is_still_python() -> None:
    case = Case(function="f", variables=[])
    compile(case.repro("purity"), "<repro>", "exec")


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,), (2, 0, 4)])
def test_empty_tensors_keep_their_shape(shape: tuple[int, ...]) -> None:
    rebuilt = eval(tensor_literal(torch.zeros(shape, dtype=torch.float16)), {"torch": torch})
    assert rebuilt.shape == shape and rebuilt.dtype == torch.float16


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex64, torch.int64, torch.bool])
def test_large_tensors_of_every_dtype_rebuild_with_their_layout(dtype: torch.dtype) -> None:
    t = torch.zeros(10, 20, dtype=dtype)[::2, 1:].mT
    rebuilt = eval(tensor_literal(t), {"torch": torch})
    assert (rebuilt.shape, rebuilt.stride(), rebuilt.storage_offset(), rebuilt.dtype) == (
        t.shape, t.stride(), t.storage_offset(), t.dtype)


def test_a_failure_on_large_inputs_prints_a_repro_that_compiles(repros_compile: list[str]) -> None:
    """The case from the issue: ``gradprops check`` on (3, 4, 6) inputs (repros_compile compiles it)."""
    from tests import broken_suite as bs

    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.check(bs.WrongOver64.apply, (x,), properties=["finite_differences"], max_examples=3, seed=0)
    assert any("torch.randn((3, 4, 6), dtype=torch.float64).requires_grad_()" in r for r in repros_compile)
    assert "How to reproduce" in str(info.value)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tuples_of_any_length_are_python(n: int) -> None:
    """A function with no inputs or no differentiable outputs has empty input or seed tuples."""
    from gradprops.describe import seed_source

    tensors = [torch.full((2,), float(i)) for i in range(n)]
    case = Case(function="f", variables=[], inputs_source=list(enumerate(tensors)), helper_call="f(inputs, u)",
                seed_literals={"u": seed_source(tensors)})
    namespace: dict[str, object] = {}
    exec(case.repro("purity").replace("f(inputs, u)", ""), {"torch": torch}, namespace)
    assert len(namespace["inputs"]) == n  # type: ignore[arg-type]
    u = namespace["u"]
    assert (u.shape == (2,)) if n == 1 else len(u) == n  # type: ignore[union-attr, arg-type]


def test_a_failing_generated_program_keeps_its_lines_in_the_report() -> None:
    class Program:
        """A generated program, as gst.functions makes them: it describes itself by its source."""

        __gradprops_source__ = "def f(x0):\n    v1 = x0 * 3\n    return v1\n"

        def __call__(self, x0: torch.Tensor) -> torch.Tensor:
            return x0 * 3 + (x0 - x0.detach())  # grads 4, not the 3 the source shows: a finding

        def __repr__(self) -> str:
            return self.__gradprops_source__.rstrip("\n")

    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure) as info:
        gradprops.assert_finite_differences(Program(), (x,))
    text = str(info.value)
    assert "  function: def f(x0):\n        v1 = x0 * 3\n        return v1" in text, text
    compile(info.value.case.repro("finite_differences"), "<repro>", "exec")


_SPECS = st.one_of(
    st.lists(st.sampled_from([p.name for p in select(None)]), min_size=1, unique=True),  # names: all requested
    st.lists(st.sampled_from([p.name for p in select(None)]), min_size=1, max_size=5, unique=True).map(
        lambda dropped: ",".join(f"-{n}" for n in dropped)),  # exclusions: none requested
)


@given(_SPECS, st.booleans())
def test_a_replay_line_selects_the_same_properties_and_names_vmap_only_if_the_caller_did(spec, focused) -> None:
    # properties='-second_order' once replayed as a list of the other twelve, which named vmap: on an
    # old-style Function the replay then failed "vmap was asked for" instead of the failure it replays.
    names = [p.name for p in select(spec)]
    if focused:  # the focused search's line names the failing property alone
        names = names[-1:]
    written = _selecting(names, named(spec))
    assert [p.name for p in select(written)] == names
    assert ("vmap" in named(written)) == ("vmap" in named(spec) and "vmap" in names)
