"""Turn what the user hands in into one pure map from differentiable variables to outputs.

A *target* is a plain function of torch ops, a custom ``torch.autograd.Function``'s ``.apply`` or an
``nn.Module``. Whatever it is, every property sees the same thing: :meth:`Target.outputs` takes a
tuple of tensors — the differentiable inputs, then the module's trainable parameters — and returns
the outputs that carry a grad. Inputs that are not differentiated (integer tensors, tensors without
``requires_grad``) are held fixed. Inputs are a tensor, a tuple of tensors (passed positionally),
or a dict of tensors (passed as keyword arguments, ``fn(**inputs)``; it may also hold plain
non-tensor arguments such as ``dim=1``, passed along as they are). Outputs are a pytree: every
tensor leaf of what the function returns (nested tuples, lists, dicts, named tuples) is an output,
in ``torch.utils._pytree``'s order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from gradprops.errors import UsageError
from gradprops.signals import FunctionRaised, NoOutputToCheck, call_user

#: What the helpers and :func:`gradprops.check` take as inputs: one tensor, a tuple of tensors
#: (positional arguments) or a dict of them (keyword arguments), which may also hold plain
#: non-tensor arguments (``{"x": x, "dim": 1}``).
Inputs = Tensor | Sequence[Tensor] | Mapping[str, Any]
#: A seed (or direction): one tensor per differentiable output (or variable), or the tensor alone.
Seed = Tensor | Sequence[Tensor]


@dataclass(frozen=True)
class Variable:
    """One thing grads are taken with respect to: an input or a module parameter."""

    name: str
    value: Tensor


def is_differentiable(t: Tensor) -> bool:
    return (t.is_floating_point() or t.is_complex()) and t.requires_grad


def function_name(fn: Any) -> str:
    """A readable name: ``MySin.apply``, ``torch.sin``, ``Linear(in_features=3, ...)``.

    >>> function_name(functools.partial(torch.sum, dim=1))
    'functools.partial(torch.sum, dim=1)'
    """
    if hasattr(fn, "__gradprops_source__"):
        return repr(fn)  # a generated program: its lines are its source (the Case section indents them)
    if isinstance(fn, torch.nn.Module):
        return repr(fn).replace("\n", " ")  # modules describe themselves
    if isinstance(fn, functools.partial):
        bound = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in fn.keywords.items()]
        return f"functools.partial({', '.join([function_name(fn.func), *bound])})"
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):
        return f"{owner.__qualname__}.{fn.__name__}"
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    qualname = qualname.removeprefix("_VariableFunctionsClass.")  # torch.sum and the other torch.* builtins
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


class Target:
    """A function under test bound to example inputs; see the module docstring.

    >>> t = Target(torch.sin, torch.zeros(3, requires_grad=True))
    >>> [v.name for v in t.variables]
    ['input 0']
    >>> [v.name for v in Target(torch.add, {"input": torch.zeros(3, requires_grad=True),
    ...                                     "other": torch.ones(3)}).variables]
    ["input 'input'"]
    """

    def __init__(self, fn: Callable[..., Any], inputs: Inputs) -> None:
        if isinstance(fn, type) and issubclass(fn, (torch.autograd.Function, torch.nn.Module)):
            remedy = (f"{fn.__name__}.apply" if issubclass(fn, torch.autograd.Function)
                      else f"an instance, {fn.__name__}(...)")
            raise UsageError(f"the function under test is the class {fn.__name__}, not a function: pass {remedy}")
        if not callable(fn):
            raise UsageError(
                f"the function under test must be callable, got {type(fn).__name__}: pass a "
                "function, a torch.autograd.Function's .apply, or an nn.Module instance"
            )
        self.fn = fn
        self.name = function_name(fn)
        #: the non-tensor keyword arguments of a dict of inputs (``dim=1``, ``reduction="sum"``):
        #: passed on every call as they are, shown in reports and repros
        self.arguments: dict[str, Any] = {}
        if isinstance(inputs, Mapping):
            _keywords(inputs)
            self.arguments = {k: _plain_argument(k, v) for k, v in inputs.items() if not isinstance(v, Tensor)}
            inputs = {k: v for k, v in inputs.items() if isinstance(v, Tensor)}
            if not inputs:
                raise UsageError(f"inputs {sorted(self.arguments)} hold no tensor: pass the tensors to "
                                 "differentiate too, e.g. {'x': x, 'dim': 1}")
        #: the inputs' keyword names when they were given as a dict (passed as ``fn(**inputs)``)
        self.keywords: tuple[str, ...] = tuple(inputs) if isinstance(inputs, Mapping) else ()
        self.input_names = tuple(f"input {k!r}" for k in self.keywords) if self.keywords else ()
        self.inputs = _as_input_tuple(tuple(inputs.values()) if isinstance(inputs, Mapping) else inputs,
                                      self.input_names)
        self.input_names = self.input_names or tuple(f"input {i}" for i in range(len(self.inputs)))
        self.module = fn if isinstance(fn, torch.nn.Module) else None
        self.parameter_names: tuple[str, ...] = ()
        variables = [
            Variable(name, x) for name, x in zip(self.input_names, self.inputs) if is_differentiable(x)
        ]
        self._diff_slots = tuple(i for i, x in enumerate(self.inputs) if is_differentiable(x))
        if self.module is not None:
            params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
            for n, p in params:
                _require_values(p, f"parameter '{n}'", "; for a module built on the meta device, "
                                "module.to_empty(device='cpu') and initialise its parameters")
            self.parameter_names = tuple(n for n, _ in params)
            variables += [Variable(f"parameter '{n}'", p) for n, p in params]
        if not variables:
            raise UsageError(_no_variable_message(self.inputs))
        self.variables = tuple(variables)
        self._output_mask: tuple[bool, ...] | None = None

    def rebuilt(self, fn: Callable[..., Any] | None = None, inputs: Sequence[Tensor] | None = None) -> Target:
        """This target with another function or other input values, passed the same way (keywords kept)."""
        values = self.inputs if inputs is None else tuple(inputs)
        return Target(self.fn if fn is None else fn,
                      {**dict(zip(self.keywords, values)), **self.arguments} if self.keywords else values)

    def call(self, variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """Run the function with ``variables`` substituted; return every tensor it outputs.

        A function that leaves grad mode switched (``torch.set_grad_enabled(False)`` without
        restoring it) is a finding: every caller's later code would run without autograd.
        """
        grad_enabled = torch.is_grad_enabled()
        n_inputs = len(self._diff_slots)
        args = list(self.inputs)
        for slot, value in zip(self._diff_slots, variables[:n_inputs]):
            args[slot] = value
        positional, keywords = self.call_arguments(args)
        if self.module is None:
            raw = call_user("forward", lambda: self.fn(*positional, **keywords))
        else:
            params = dict(zip(self.parameter_names, variables[n_inputs:]))
            module = self.module
            raw = call_user(
                "forward",
                lambda: torch.func.functional_call(module, params, positional, keywords, strict=False),
            )
        if torch.is_grad_enabled() != grad_enabled:
            torch.set_grad_enabled(grad_enabled)
            raise FunctionRaised("forward", RuntimeError(
                f"the function under test switched grad mode {'off' if grad_enabled else 'on'} and left "
                "it so (torch.set_grad_enabled without restoring it): its callers' code would then run "
                f"{'without' if grad_enabled else 'with'} autograd. Use `with torch.no_grad():` or "
                "`with torch.set_grad_enabled(...):`, which restore the mode"))
        return _as_output_tuple(raw)

    def call_arguments(self, inputs: Sequence[Tensor]) -> tuple[tuple[Tensor, ...], dict[str, Any]]:
        """``(positional, keyword)`` arguments passing ``inputs`` (one per input) the way they were given."""
        if self.keywords:
            return (), {**dict(zip(self.keywords, inputs)), **self.arguments}
        return tuple(inputs), {}

    def outputs(self, variables: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """The outputs that carry a grad (decided on the first call made with grad enabled)."""
        everything = self.call(variables)
        if self._output_mask is None and torch.is_grad_enabled():
            mask = tuple(o.requires_grad for o in everything)
            if not any(mask):
                raise NoOutputToCheck(_no_grad_output_message(everything))
            self._output_mask = mask
        if self._output_mask is None:
            raise RuntimeError("Target.outputs first called under no_grad")  # our bug, not theirs
        if len(everything) != len(self._output_mask):
            raise FunctionRaised(
                "forward",
                RuntimeError(
                    f"returned {len(everything)} outputs, but {len(self._output_mask)} on an "
                    "earlier call with the same input shapes"
                ),
            )
        return tuple(o for o, keep in zip(everything, self._output_mask) if keep)


def _keywords(inputs: Mapping[Any, Any]) -> tuple[str, ...]:
    for key in inputs:
        if not isinstance(key, str) or not key.isidentifier():
            raise UsageError(f"inputs given as a dict are passed as keyword arguments, fn(**inputs): every key "
                             f"must be an argument name, got {key!r}")
    if not inputs:
        raise UsageError("no inputs were given: pass the tensors to differentiate, e.g. (x,) or {'x': x}")
    return tuple(inputs)


_PLAIN = (bool, int, float, complex, str, type(None), torch.dtype)


def _plain_argument(name: str, value: Any) -> Any:
    """A non-tensor keyword argument, if it is a value a repro can write out (a number, a string, a
    dtype, None, or a tuple or list of those)."""
    if isinstance(value, _PLAIN) or (isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value)):
        return value
    raise UsageError(
        f"input {name!r} is a {type(value).__name__}: a dict of inputs may hold tensors and plain keyword "
        "arguments (numbers, strings, dtypes, None, tuples of them), which reports and repros write out; "
        "bind anything else with functools.partial(fn, ...) or a lambda"
    )


def _as_input_tuple(inputs: Any, names: Sequence[str] = ()) -> tuple[Tensor, ...]:
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    if not isinstance(inputs, (tuple, list)):
        raise UsageError(
            f"inputs must be a tensor, a tuple of tensors or a dict of them (keyword arguments), got "
            f"{type(inputs).__name__}: wrap a single tensor as (x,), and bind other arguments with "
            "functools.partial or a lambda"
        )
    for i, x in enumerate(inputs):
        name = names[i] if names else f"input {i}"
        if not isinstance(x, Tensor):
            raise UsageError(
                f"{name} is a {type(x).__name__}, not a tensor: every input must be a tensor; "
                f"bind non-tensor arguments with functools.partial(fn, ...) or a lambda"
            )
        _require_values(x, name)
        if x.layout != torch.strided:
            raise UsageError(
                f"{name} is a {x.layout} tensor: gradprops checks dense (strided) tensors only; pass "
                "x.to_dense() and convert inside the function if it needs the sparse layout"
            )
    return tuple(inputs)


def _require_values(x: Tensor, name: str, meta_remedy: str = "") -> None:
    """Refuse tensors whose grads gradprops cannot compute and compare: meta and nested ones."""
    if x.is_meta:
        raise UsageError(
            f"{name} is on the meta device, which holds shapes but no values: gradprops computes and "
            "compares grads, so pass tensors with values, e.g. torch.randn(shape, dtype=...) on the "
            f"CPU{meta_remedy}"
        )
    if x.is_nested:
        raise UsageError(
            f"{name} is a nested tensor: gradprops checks dense tensors only; pass its components as "
            "separate inputs (x.unbind()) or padded (x.to_padded_tensor(0.0)), and build the nested "
            "tensor inside the function"
        )


def _as_output_tuple(raw: Any) -> tuple[Tensor, ...]:
    """Every tensor leaf of the pytree ``raw`` (nested tuples, lists, dicts), in pytree order."""
    leaves = pytree.tree_leaves(raw)
    tensors = tuple(o for o in leaves if isinstance(o, Tensor))
    if not tensors and len(leaves) == 1 and leaves[0] is raw:  # neither a tensor nor a container
        raise NoOutputToCheck(
            f"the function under test returned {'None' if raw is None else 'a ' + type(raw).__name__}; "
            "gradprops checks functions "
            "that return tensors (one, or a tuple, list or dict of them): wrap it in a lambda that "
            "returns the tensors"
        )
    if any(o.is_nested for o in tensors):
        raise UsageError(
            "the function under test returned a nested tensor: gradprops checks dense outputs only; "
            "check a wrapper that returns out.to_padded_tensor(0.0) (or out.unbind()) instead"
        )
    return tensors


def _no_variable_message(inputs: tuple[Tensor, ...]) -> str:
    if not inputs:
        return "no inputs were given: pass the tensors to differentiate, e.g. (x,)"
    if all(not (x.is_floating_point() or x.is_complex()) for x in inputs):
        dtypes = ", ".join(str(x.dtype) for x in inputs)
        return (
            f"all inputs have integer or bool dtypes ({dtypes}), which carry no gradient: make the "
            "inputs to differentiate floating point, e.g. x.double().requires_grad_()"
        )
    return (
        "no input can carry a grad: none of the floating-point inputs has requires_grad=True. "
        "Mark the ones to differentiate with x.requires_grad_() (inputs without it are held fixed)"
    )


def _no_grad_output_message(outputs: tuple[Tensor, ...]) -> str:
    if not outputs:
        return "the function under test returned no tensors: return the tensor(s) to check"
    return (
        f"the output does not require grad (checked {len(outputs)} output tensor(s)): it is not "
        "connected to any differentiated input. Did the function call .detach(), .item(), go "
        "through numpy, or run under torch.no_grad()? Is the custom Function's output marked "
        "non-differentiable?"
    )
