"""The devices property: outputs and grads on every other available device against the inputs' own."""

import itertools

import pytest
import torch

import gradprops
from gradprops import strategies as gst
from gradprops.properties.devices import available_devices, check_devices
from gradprops.strided import fresh_leaf
from gradprops.target import Target

CPU_AND_A_COPY = lambda: [torch.device("cpu"), torch.device("cpu", 0)]  # noqa: E731 a second "device" here


def test_without_a_second_device_it_says_so_once_and_checks_nothing():
    report = gradprops.check(torch.sin, gst.inputs("()"), max_examples=10, seed=0)
    if len(available_devices()) > 1:
        pytest.skip("this machine has a second device")
    devices = report.properties["devices"]
    assert devices.examples == 0 and list(devices.skipped) == [
        "no device other than cpu is available here (torch.cuda.is_available() is False): outputs and grads on "
        "other devices are not compared"]


def test_the_comparison_runs_on_a_copy_of_the_example_with_its_layout():
    x = torch.randn(3, 5, dtype=torch.float64).t()[1:].requires_grad_()  # strided, offset
    assert check_devices(Target(lambda t: t.sin().sum(-1), (x,)), devices=CPU_AND_A_COPY) == []
    moved = fresh_leaf(x, device=torch.device("cpu", 0))
    assert (moved.stride(), moved.storage_offset(), moved.requires_grad) == (x.stride(), x.storage_offset(), True)
    assert torch.equal(moved, x)


def test_a_kernel_that_computes_otherwise_on_the_other_device_is_found():
    calls = itertools.count()

    def second_call_off(t):  # the example's own run is call 0, the copy's call 1
        return t.sin() * (1.01 if next(calls) == 1 else 1.0)

    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(gradprops.PropertyFailure, match="devices") as failure:
        check_devices(Target(second_call_off, (x,)), devices=CPU_AND_A_COPY)
    message = str(failure.value)
    assert "on cpu:0 the function's outputs or grads differ from those on cpu" in message
    assert "compared on: cpu:0" in message and "output 0" in message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (not run on the project's CI machine)")
def test_a_cuda_kernel_one_percent_off_is_found_and_a_right_one_passes():
    def off_on_cuda(t):
        return t.sin() * (1.01 if t.is_cuda else 1.0)

    gradprops.check(torch.sin, gst.inputs("(n)"), properties=["devices"], max_examples=20, seed=0)
    with pytest.raises(gradprops.PropertyFailure, match="on cuda"):
        gradprops.check(off_on_cuda, gst.inputs("(n)"), properties=["devices"], max_examples=20, seed=0)
