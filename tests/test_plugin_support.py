"""gradprops.pytest_support without pytest in the loop: items, ids, arguments, seeds, the fixture object."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import hypothesis
import pytest
import torch
from hypothesis import find
from hypothesis import strategies as st

import _gradprops_pytestplugin as plugin
import gradprops
from gradprops import UsageError
from gradprops import strategies as gst
from gradprops.properties import registry
from gradprops.pytest_support import GradpropsFixture, autograd_test, item_seed, item_specs, run_item
from tests.functions import IgnoresSeed, Sin

# Failures here test the plugin's handling of them, not shrinking: skip that phase, it is slow.
NO_SHRINK = hypothesis.settings(phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate], database=None)


@dataclass(frozen=True)
class Options:
    seed: int = 1
    seed_given: bool = True
    max_examples: int | None = 3
    properties: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None


def ids(test, options=None) -> list[str]:
    return [spec.id for spec in item_specs(test, options)]


def test_one_item_per_default_property_of_the_registry_in_its_order() -> None:
    defaults = [p.name for p in registry.PROPERTIES]
    assert ids(autograd_test(Sin.apply, inputs=gst.inputs("()"))) == defaults


def test_signature_strings_and_dtype_callables_are_parametrised_over_dtypes() -> None:
    test = autograd_test(Sin.apply, inputs="()", dtypes=[torch.float32, "double"], properties="seed_linearity")
    assert ids(test) == ["seed_linearity-float32", "seed_linearity-float64"]
    test = autograd_test(Sin.apply, inputs=partial(gst.inputs, "(n)"), properties=["seed_linearity"])
    assert ids(test) == ["seed_linearity-float64"]  # the default dtype
    assert ids(test, Options(dtypes=("float32",))) == ["seed_linearity-float32"]  # --gradprops-dtypes
    assert find(test.strategy("float32", None), lambda _: True)[0].dtype == torch.float32


def test_a_signature_string_takes_the_devices_too() -> None:
    test = autograd_test(Sin.apply, inputs="(n)", devices=["cpu"], properties=["seed_linearity"])
    assert ids(test) == ["seed_linearity-float64"]  # the CPU is not written into ids
    assert find(test.strategy("float64", "cpu"), lambda _: True)[0].device.type == "cpu"


def test_devices_apply_to_inputs_taking_a_device_and_missing_ones_are_skipped_with_a_reason() -> None:
    def inputs(dtype, device):
        return st.just(torch.ones(2, dtype=dtype, device=device, requires_grad=True))

    test = autograd_test(Sin.apply, inputs=inputs, properties=["seed_linearity"], devices=["cpu", "meta"])
    specs = item_specs(test, None)
    assert [s.id for s in specs] == ["seed_linearity-float64", "seed_linearity-float64-meta"]
    assert specs[0].skip is None
    auto = item_specs(autograd_test(Sin.apply, inputs=inputs, properties=["seed_linearity"]), None)
    assert [s.device for s in auto] == ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    if not torch.cuda.is_available():
        (cuda,) = item_specs(autograd_test(Sin.apply, inputs=inputs, properties=["seed_linearity"],
                                           devices=["cuda"]), None)
        assert cuda.id == "seed_linearity-float64-cuda" and "cuda is not available" in cuda.skip


def test_the_test_names_its_own_properties_over_the_session_option() -> None:
    test = autograd_test(Sin.apply, inputs=gst.inputs("()"), properties=["vjp_matches_jacobian", "seed_linearity"])
    assert ids(test, Options(properties=("ones_seed_matches_sum",))) == ["seed_linearity", "vjp_matches_jacobian"]
    test = autograd_test(Sin.apply, inputs=gst.inputs("()"))
    assert ids(test, Options(properties=("ones_seed_matches_sum",))) == ["ones_seed_matches_sum"]
    with pytest.raises(UsageError, match=r"--gradprops-properties: unknown properties \['nope'\]"):
        item_specs(test, Options(properties=("nope",)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": None}, "inputs is required"),
        ({"inputs": gst.inputs("()"), "dtypes": ["float32"]}, "dtypes= needs inputs that take a dtype"),
        ({"inputs": gst.inputs("()"), "devices": ["cpu"]}, "devices= needs inputs that take a device"),
        ({"inputs": lambda n: st.just(n)}, "a callable without a dtype parameter"),
        ({"inputs": 42}, r"inputs=42 \(int\) is not something to draw inputs from: pass a Hypothesis strategy"),
        ({"inputs": [1.0, torch.ones(1)]}, r"\(list\) is not something to draw inputs from"),
        ({"inputs": "()", "dtypes": ["float65"]}, "dtypes: unknown dtype 'float65': choose from float64"),
        ({"inputs": "()", "dtypes": [torch.complex32]}, "dtypes: unknown dtype 'torch.complex32'"),
        ({"inputs": "()", "properties": ["nope"]}, r"unknown properties \['nope'\]"),
        ({"inputs": "()", "max_examples": 0}, "max_examples must be a positive integer, got 0"),
        ({"inputs": "()", "settings": {"max_examples": 3}}, "settings must be a hypothesis.settings"),
    ],
)
def test_mistakes_in_autograd_test_are_usage_errors_at_import_time(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        autograd_test(Sin.apply, **kwargs)


def test_concrete_inputs_are_still_taken_as_check_takes_them() -> None:
    x = torch.ones(2, dtype=torch.float64, requires_grad=True)
    for inputs in (x, (x,), [x], {"input": x}):
        test = autograd_test(Sin.apply, inputs=inputs, properties=["seed_linearity"])
        assert ids(test) == ["seed_linearity"]
    assert [r.examples for r in autograd_test(Sin.apply, inputs=(x,), properties=["seed_linearity"])(
        seed=0, max_examples=2)] == [2]


def test_the_object_is_recognised_by_its_marker_and_records_where_it_was_written() -> None:
    test = autograd_test(Sin.apply, inputs="()")
    assert plugin._is_gradprops_test(test) and not plugin._is_gradprops_test(Sin.apply)
    from unittest import mock

    assert not plugin._is_gradprops_test(mock.Mock())  # a Mock answers every attribute
    assert test.location[0] == __file__


def test_decorator_form_tests_the_decorated_function() -> None:
    @autograd_test(inputs="()", properties=["seed_linearity"])
    def test_doubled(x):
        return 2 * Sin.apply(x)

    assert ids(test_doubled) == ["seed_linearity-float64"]
    assert [r.examples for r in test_doubled(seed=0, max_examples=3)] == [3]


def test_calling_it_runs_every_item_outside_pytest_and_raises_the_failure() -> None:
    test = autograd_test(IgnoresSeed.apply, inputs="()", properties=["ones_seed_matches_sum", "seed_linearity"],
                         settings=NO_SHRINK)
    with pytest.raises(AssertionError, match="property 'seed_linearity' failed"):
        test(seed=0, max_examples=10)


def test_item_seeds_depend_on_session_seed_and_node_id_only() -> None:
    a, b = plugin.Options(seed=1), plugin.Options(seed=2)
    assert a.item_seed("t.py::x[p]") == plugin.Options(seed=1, max_examples=5).item_seed("t.py::x[p]")
    assert len({a.item_seed("t.py::x[p]"), a.item_seed("t.py::x[q]"), b.item_seed("t.py::x[p]")}) == 3


def test_a_derandomizing_profile_is_respected_unless_a_seed_is_given() -> None:
    derandomize = hypothesis.settings(derandomize=True)
    assert item_seed(Options(seed_given=False), 42, derandomize) is None
    assert item_seed(Options(seed_given=True), 42, derandomize) == 42
    assert item_seed(Options(seed_given=False), 42, hypothesis.settings(derandomize=False)) == 42


def test_fixture_object_binds_the_session_settings_and_exposes_the_helpers() -> None:
    recorded: list[tuple[str, int, int]] = []
    gp = GradpropsFixture(Options(properties=("seed_linearity",)), seed=5, replay="pytest 't.py::x' --gradprops-seed=1",
                          record=lambda *row: recorded.append(row))
    report = gp.check(Sin.apply, gp.strategies.inputs("()"))
    assert report.seed == 5 and report.max_examples == 3 and list(report.properties) == ["seed_linearity"]
    assert recorded == [("seed_linearity", 3, 0)]
    assert gp.assert_seed_linearity is not None and gp.dtypes == (torch.float64,)
    assert gp.devices[0] == torch.device("cpu")
    with pytest.raises(gp.PropertyFailure) as info:
        gp.check(IgnoresSeed.apply, gp.strategies.inputs("()"), max_examples=20, settings=NO_SHRINK)
    assert str(info.value).rstrip().endswith("or replay just this test:\n    pytest 't.py::x' --gradprops-seed=1")
    assert [entry.path.name for entry in info.traceback] == ["test_plugin_support.py", "pytest_support.py"]
    assert not getattr(info.value, "__notes__", None)  # the case is in the message, not Hypothesis' draws
    assert recorded[-1] == ("seed_linearity", 0, 0)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        gp.nope  # noqa: B018


def test_a_failing_item_writes_out_its_inputs_and_where_it_was_declared_and_its_replay_line_replays() -> None:
    declared = autograd_test(IgnoresSeed.apply, inputs=partial(gst.inputs, "()", low=-2.0),
                             properties=["seed_linearity"], settings=NO_SHRINK)
    [spec] = item_specs(declared, Options())
    with pytest.raises(gradprops.PropertyFailure) as caught:
        run_item(declared, spec, Options(), seed=7, nodeid="t.py::x", replay="pytest 't.py::x'")
    text = str(caught.value)
    assert f"as given to autograd_test at tests/test_plugin_support.py:{declared.location[1] + 1})" in text.replace(
        __file__, "tests/test_plugin_support.py")
    [line] = [x.strip() for x in text.splitlines() if x.strip().startswith("gradprops.check(")]
    assert line.startswith("gradprops.check(fn, gst.inputs('()', low=-2.0, dtype=torch.float64, device='cpu'), seed=7,")
    with pytest.raises(gradprops.PropertyFailure, match="property 'seed_linearity' failed"):
        eval(line.split("  #")[0], {"gradprops": gradprops, "gst": gst, "torch": torch, "fn": IgnoresSeed.apply,
                                    "settings": NO_SHRINK})


def test_the_items_dtype_and_device_replace_those_of_the_partial_in_the_written_inputs() -> None:
    declared = autograd_test(Sin.apply, inputs=partial(gst.inputs, "(n)", dtype=torch.float16,
                                                       device=torch.device("cpu")))
    written = declared.inputs_source("float32", "cpu")
    assert written == "gst.inputs('(n)', dtype=torch.float32, device='cpu')"
    assert repr(eval(written, {"gst": gst, "torch": torch})) == repr(declared.strategy("float32", "cpu"))
    kept = declared.inputs_source("float32", None)
    assert kept == "gst.inputs('(n)', dtype=torch.float32, device='cpu')"


def test_inputs_it_cannot_write_out_keep_the_name_inputs() -> None:
    assert autograd_test(Sin.apply, inputs=gst.inputs("()")).inputs_source(None, None) is None
    assert autograd_test(Sin.apply, inputs=lambda dtype: gst.inputs("()", dtype=dtype)).inputs_source(
        "float32", None) is None
