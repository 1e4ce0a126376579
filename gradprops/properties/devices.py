"""devices: the function's outputs and grads on every other available device equal those on its own.

A custom op usually has a kernel per device — a CUDA or Triton kernel beside the CPU one, an MPS
path — and each backward is its own code: every other property checks the device the inputs were
drawn on, so the other device's kernel goes unchecked unless the check runs there too. This
property moves the example — every tensor input with its strides and offset, and the seed — to
each other available device (``cuda``, ``mps``, ``xpu``; the CPU from an accelerator), runs forward
and one backward there, and compares outputs and grads with the drawn device's within rounding:
two kernels round differently and both correctly, so the allowance is the eager computation's own
rounding noise, measured on each side.

Where no other device is available it cannot apply: it says so once per check (a CPU-only machine
checks nothing here, and the report shows it skipped). Cost per example, where it applies: one
forward and backward per other device, and the copies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradprops.autodiff import Graph, outputs_and_vjp
from gradprops.errors import findings_hidden
from gradprops.properties._common import (
    against_eager,
    as_helper,
    fail_on,
    findings_as_failures,
    make_case,
    seed_or_random,
    tolerance_for,
)
from gradprops.signals import NotApplicable, Unsupported
from gradprops.strided import fresh_leaf
from gradprops.target import Inputs, Seed, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "devices"


def available_devices() -> list[torch.device]:
    """The CPU and every accelerator torch can use here (one device per type).

    >>> available_devices()[0]
    device(type='cpu')
    """
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda", torch.cuda.current_device()))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(torch.device("mps", 0))
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        found.append(torch.device("xpu", xpu.current_device()))
    return found


def check_devices(
    target: Target, seed: Seed | None = None, *, rtol: float | None = None, atol: float | None = None,
    generator: torch.Generator | None = None, graph: Graph | None = None,
    devices: Callable[[], list[torch.device]] = available_devices,
) -> list[str]:
    """Run the property on ``target``; returns notes, raises PropertyFailure, or Unsupported where
    no other device is available. ``devices`` lists the devices to compare (those other than the
    inputs' own): :func:`available_devices`."""
    graph = graph or Graph(target)
    variables = graph.variables
    here = {str(v.device) for v in variables} | {str(x.device) for x in target.inputs}
    if len(here) > 1:
        raise NotApplicable(f"the inputs are on several devices ({', '.join(sorted(here))})")
    home = here.pop() if here else "cpu"
    others = [d for d in devices() if str(d) != home]
    if not others:
        raise Unsupported(f"no device other than {home} is available here (torch.cuda.is_available() is "
                          f"{torch.cuda.is_available()}): outputs and grads on other devices are not compared")
    generator = generator or torch.Generator().manual_seed(0)
    names = [x.name for x in target.variables]
    seeds: dict[str, Any] = {}
    extras: dict[str, object] = {}
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds=seeds, extras=extras,
        helper_call="gradprops.assert_devices(fn, inputs, seed=v)")
    with findings_as_failures(NAME, case):
        outputs = [o.detach() for o in graph.outputs]
    seed = seed_or_random(seed, outputs, generator)
    seeds["v"] = seed
    with findings_as_failures(NAME, case):
        grads = list(graph.vjp(seed))
    tolerance = tolerance_for(variables, outputs, rtol, atol)
    for device in others:
        extras["compared on"] = str(device)
        moved = target.rebuilt(inputs=[fresh_leaf(x, device=device) for x in target.inputs])
        with findings_as_failures(NAME, case):
            there_outputs, there_grads = outputs_and_vjp(moved, [fresh_leaf(v, device=device) for v in variables],
                                                         [s.to(device) for s in seed], names)
        got = [t.to(torch.device(home)) for t in (*there_outputs, *there_grads)]
        fail_on(NAME, f"on {device} the function's outputs or grads differ from those on {home} by more than "
                      f"rounding: its kernel there (forward or backward) computes something else",
                against_eager(target, variables, names, seed, (outputs, grads), got, tolerance, f"on {device}"), case)
    return []


def assert_devices(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ``fn``'s outputs and ``backward(seed)`` on every other available device equal
    those on the inputs' device, within rounding; warns NotChecked where no other device is available.

    >>> x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    >>> assert_devices(torch.sin, (x,)) if torch.cuda.is_available() else None
    """
    as_helper(NAME, Target(fn, inputs), lambda target: check_devices(target, seed, rtol=rtol, atol=atol))
