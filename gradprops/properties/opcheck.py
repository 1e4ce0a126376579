"""opcheck: every ``torch.library`` custom op the function calls passes ``torch.library.opcheck`` on
the arguments it was called with in this example.

PyTorch's docs tell custom-op authors to run ``torch.library.opcheck`` — the op's schema (does it
write into what it declares read-only?), its autograd registration, its fake (meta) kernel against
the real one, and AOT dispatch with dynamic shapes — next to gradcheck, on a sample input or two.
Here it runs on every drawn case (shapes, 0-d and size-0, strided layouts, dtypes), so a fake
kernel that gets one shape wrong is found with the smallest case that shows it. The maths of
backward is every other property's job.

Custom ops are found by running forward once under a dispatch mode that records the first call of
each op outside torch's own namespaces, with its arguments — only where the graph holds a custom
autograd Function (a differentiable custom op registers one), so a function of plain torch ops costs
a walk of its graph and is a note ("no torch.library custom op"). A custom op whose outputs carry no
grad (off the differentiable path) is not looked for. Cost per example: one forward, and
``opcheck``'s own (a forward and backward per test, the AOT test compiling once per shape class;
its first call in a process pays torch.compile's start-up, a few seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_map_only

from gradprops.autodiff import Graph
from gradprops.describe import describe_tensor
from gradprops.dispatch_mode import DispatchMode
from gradprops.errors import PropertyFailure, findings_hidden
from gradprops.properties._common import as_helper, findings_as_failures, make_case
from gradprops.signals import Unsupported
from gradprops.target import Inputs, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "opcheck"

#: Namespaces of torch's own operators: anything else reached by dispatch was registered with
#: torch.library (by the user, or a library such as torchvision, whose ops deserve the check too).
TORCH_NAMESPACES = frozenset({
    "aten", "prims", "prim", "rngprims", "debugprims", "higher_order", "inductor", "quantized", "_quantized",
    "quantized_decomposed", "mkldnn", "mkl", "onednn", "_c10d_functional", "_c10d_functional_autograd",
    "c10d", "c10d_functional", "_dtensor", "profiler", "_test", "fbgemm", "sparse", "_nested_tensor",
})


def check_opcheck(target: Target, *, graph: Graph | None = None, look_everywhere: bool = True) -> list[str]:
    """Run the property on ``target``; returns notes, raises PropertyFailure, or
    :class:`~gradprops.signals.Unsupported` where the forward calls no custom op. Without
    ``look_everywhere`` custom ops are looked for only where the graph holds a custom Function."""
    graph = graph or Graph(target)
    variables = graph.variables
    case = lambda: make_case(target, variables, helper_call="gradprops.assert_opcheck(fn, inputs)")  # noqa: E731
    with findings_as_failures(NAME, case):
        # A differentiable custom op shows in the graph as its generated autograd Function; one without
        # an autograd registration does not (its implementation's own ops do), so only look_everywhere
        # records the forward whatever the graph holds.
        calls = custom_op_calls(target, variables) if look_everywhere or graph.custom_functions else {}
    if not calls:
        raise Unsupported("no torch.library custom op in the forward: opcheck tests registered ops")
    for op, (args, kwargs) in calls.items():
        try:
            torch.library.opcheck(op, args, kwargs)
        except Exception as exc:  # OpCheckError, or the op raising inside one of opcheck's tests
            shapes = ", ".join(f"tensor of {describe_tensor(a)}" if isinstance(a, Tensor) else repr(a)
                               for a in (*args, *kwargs.values()))
            raise PropertyFailure(
                NAME, f"torch.library.opcheck({op}, ...) fails: {exc}", case(),
                extra=f"  {op} was called with ({shapes}) in this example's forward. opcheck's tests: "
                      "test_schema (writes only what the schema declares), test_autograd_registration, "
                      "test_faketensor (the fake kernel gives the real kernel's shapes, strides and dtypes), "
                      "test_aot_dispatch_dynamic; replay one with torch.library.opcheck(op, args, "
                      "test_utils=('test_faketensor',)).",
            ) from exc
    return []


def custom_op_calls(target: Target, variables: Sequence[Tensor]) -> dict[Any, tuple[tuple[Any, ...], dict[str, Any]]]:
    """The first call of each custom op in one forward of ``target``: op -> (args, kwargs), tensors
    copied, floating ones requiring grad (so opcheck's autograd tests differentiate them)."""
    recorder = _FirstCalls()
    with torch.no_grad(), recorder:
        target.call([v.detach() for v in variables])
    return recorder.calls


class _FirstCalls(DispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[Any, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace not in TORCH_NAMESPACES and func not in self.calls:
            self.calls[func] = tree_map_only(Tensor, _argument, (tuple(args), dict(kwargs)))
        return func(*args, **kwargs)


def _argument(t: Tensor) -> Tensor:
    copy = t.detach().clone()
    return copy.requires_grad_() if copy.is_floating_point() or copy.is_complex() else copy


def assert_opcheck(fn: Callable[..., Any], inputs: Inputs) -> None:
    """Assert that every ``torch.library`` custom op ``fn`` calls passes ``torch.library.opcheck``
    on the arguments ``fn`` calls it with on ``inputs`` (see the module).

    >>> @torch.library.custom_op("gradprops_doc::twice", mutates_args=())
    ... def twice(x: torch.Tensor) -> torch.Tensor:
    ...     return 2 * x
    >>> _ = twice.register_fake(lambda x: torch.empty_like(x))
    >>> twice.register_autograd(lambda ctx, g: 2 * g)
    >>> assert_opcheck(twice, (torch.tensor([1.0, 2.0], requires_grad=True),))
    """
    as_helper(NAME, Target(fn, inputs), lambda target: check_opcheck(target))
