"""Readable descriptions of a case — tensors with their layouts and values — and a repro snippet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor

from gradprops.strided import repeats, storage_span

SMALL = 24  # tensors with at most this many elements are printed in full
LITERAL = 64  # ... and written out as literals in a repro snippet up to this many


def layout(t: Tensor) -> str:
    """``"contiguous"``, ``"non-contiguous"``, ``"expanded (stride 0)"``, plus any offset."""
    if repeats(t):
        kind = "expanded (stride 0)"
    elif t.is_contiguous():
        kind = "contiguous"
    else:
        kind = "non-contiguous"
    if t.storage_offset():
        kind += f", storage offset {t.storage_offset()}"
    return kind


def describe_tensor(t: Tensor) -> str:
    """One line: shape, dtype, strides and layout, then values when the tensor is small.

    >>> import torch
    >>> describe_tensor(torch.tensor([1.0, 2.0]))
    'shape (2,), dtype torch.float32, strides (1,) contiguous, values [1, 2]'
    """
    text = f"shape {tuple(t.shape)}, dtype {t.dtype}, strides {tuple(t.stride())} {layout(t)}"
    if t.device.type != "cpu":
        text += f", device {t.device}"
    return f"{text}, values {format_values(t)}"


def format_values(t: Tensor) -> str:
    """Values of a small tensor as nested lists; a summary of a large one."""
    t = t.detach().cpu()
    if t.numel() <= SMALL:
        return _nested(t.tolist())
    flat = t.reshape(-1)
    if t.is_complex():
        return f"<{t.numel()} elements, max |·| {flat.abs().max().item():.4g}>"
    finite = flat[flat.isfinite()].double()
    nonfinite = t.numel() - finite.numel()
    summary = f"<{t.numel()} elements"
    if finite.numel():
        summary += (f", min {finite.min().item():.4g}, max {finite.max().item():.4g}, "
                    f"mean {finite.mean().item():.4g}")
    if nonfinite:
        summary += f", {nonfinite} non-finite"
    return summary + ">"


def _nested(values: object) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    if isinstance(values, bool):
        return str(values)
    if isinstance(values, float):
        return f"{values:.6g}"
    if isinstance(values, complex):
        return f"({values.real:.6g}{values.imag:+.6g}j)"
    return str(values)


def tensor_literal(t: Tensor, requires_grad: bool = False) -> str:
    """A Python expression that rebuilds ``t`` with its memory layout: its exact values up to
    :data:`LITERAL` elements, random ones beyond (see :func:`elided`). Never a comment, so it can
    stand anywhere an expression can.

    >>> import torch
    >>> tensor_literal(torch.tensor([[1.0, 2.0], [3.0, 4.0]]).mT)
    'torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float32).as_strided((2, 2), (1, 2), 0)'
    >>> tensor_literal(torch.zeros(100, dtype=torch.float64), requires_grad=True)
    'torch.randn((100,), dtype=torch.float64).requires_grad_()'
    """
    t = t.detach().cpu()
    suffix = ".requires_grad_()" if requires_grad else ""
    dtype = str(t.dtype)
    if t.numel() == 0:
        return f"torch.empty({tuple(t.shape)}, dtype={dtype}){suffix}"
    dense = t.is_contiguous() and t.storage_offset() == 0
    span = storage_span(t)
    size = tuple(t.shape) if dense else (span,)
    if elided(t):
        values = (f"torch.randn({size}, dtype={dtype})" if t.is_floating_point() or t.is_complex()
                  else f"torch.zeros({size}, dtype={dtype})")
    else:
        storage = t.tolist() if dense else t.as_strided((span,), (1,), 0).tolist()
        values = f"torch.tensor({_exact(storage)}, dtype={dtype})"
    layout = "" if dense else f".as_strided({tuple(t.shape)}, {tuple(t.stride())}, {t.storage_offset()})"
    return values + layout + suffix


def elided(t: Tensor) -> bool:
    """Whether :func:`tensor_literal` writes random values for ``t`` instead of its own (too many)."""
    return t.numel() > LITERAL


def _exact(values: object) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_exact(v) for v in values) + "]"
    if isinstance(values, tuple):
        return _tuple([_exact(v) for v in values]) if values else "()"
    if isinstance(values, float) and not math.isfinite(values):
        return f"float('{values}')"
    if isinstance(values, complex):
        return f"complex({_exact(values.real)}, {_exact(values.imag)})"
    return repr(values)


@dataclass
class Case:
    """Everything that defines one example: function, inputs, seeds and the property's extras."""

    function: str
    variables: Sequence[tuple[str, Tensor]]
    fixed_inputs: Sequence[tuple[str, Tensor]] = ()
    seeds: Sequence[tuple[str, Tensor]] = ()
    extras: dict[str, object] = field(default_factory=dict)
    inputs_source: Sequence[tuple[int | str, Tensor]] = ()  # every input in call order (keyword), for the repro
    helper_call: str = ""  # e.g. "gradprops.assert_seed_linearity(fn, inputs, seeds=(u, v))"
    seed_literals: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, object] = field(default_factory=dict)  # non-tensor keyword arguments
    #: Whether the float64 function under test computes a step in a narrower dtype (a ``.float()``) in
    #: one forward and backward of ones; ``None`` where that was not looked for (narrower targets,
    #: while Hypothesis shrinks) or could not be (the function raised).
    narrower_steps: bool | None = None

    def render(self) -> str:
        lines = ["Case:", "  function: " + _indent_rest(self.function, "    ")]
        lines += [f"  {name}: {describe_tensor(t)}" for name, t in self.variables]
        lines += [f"  {name} (held fixed): {describe_tensor(t)}" for name, t in self.fixed_inputs]
        if self.arguments:
            lines.append("  keyword arguments: " + ", ".join(f"{k}={_exact(v)}" for k, v in self.arguments.items()))
        lines += [f"  {name}: {describe_tensor(t)}" for name, t in self.seeds]
        lines += [f"  {k}: {v}" for k, v in self.extras.items()]
        return "\n".join(lines)

    def repro(self, property: str) -> str:
        """Python source that re-runs the property's helper on exactly this case (``fn`` to fill in).

        Tensors too large to write out are drawn afresh (and said to be): replaying the drawn case
        with :func:`gradprops.check` reproduces those exactly.
        """
        lines = ["import torch, gradprops"]
        lines += [f"# {line}" for line in f"fn: {self.function}".splitlines()]
        lines.append("fn = ...  # the function above")
        if not self.helper_call:
            return "\n".join([*lines, f"# re-run the '{property}' check on the case above"])
        tensors = [t for _, t in self.inputs_source] + [t for _, t in self.seeds]
        if any(elided(t) for t in tensors):
            lines.append(f"# tensors of more than {LITERAL} elements are written as random values of their "
                         "shape: replay the drawn case for their own")
        inputs = [tensor_literal(t, requires_grad=t.requires_grad) for _, t in self.inputs_source]
        if self.inputs_source and isinstance(self.inputs_source[0][0], str):  # keyword arguments
            entries = [f"{k!r}: {src}" for (k, _), src in zip(self.inputs_source, inputs)]
            entries += [f"{k!r}: {_exact(v)}" for k, v in self.arguments.items()]
            lines.append("inputs = {" + ", ".join(entries) + "}")
        else:
            lines.append(f"inputs = {_tuple(inputs)}")
        lines += [f"{name} = {src}" for name, src in self.seed_literals.items()]
        lines.append(self.helper_call)
        return "\n".join(lines)


def _indent_rest(text: str, prefix: str) -> str:
    """``text`` with every line after the first indented (a multi-line function's source)."""
    first, *rest = text.splitlines() or [""]
    return "\n".join([first, *(prefix + line for line in rest)])


def seed_source(seed: Sequence[Tensor]) -> str:
    """Source for a seed: a tensor literal, or a tuple of them for several outputs."""
    parts = [tensor_literal(s) for s in seed]
    return parts[0] if len(parts) == 1 else _tuple(parts)


def _tuple(parts: Sequence[str]) -> str:
    """Source of a tuple of these expressions: ``()``, ``(a,)``, ``(a, b)``."""
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


def describe_seed(label: str, seed: Sequence[Tensor]) -> list[tuple[str, Tensor]]:
    if len(seed) == 1:
        return [(f"seed {label}", seed[0])]
    return [(f"seed {label} (output {i})", s) for i, s in enumerate(seed)]


