"""``functions()``: random differentiable programs — small DAGs of torch ops — as runnable source.

A drawn function is a straight-line program over its inputs ``x0, x1, ...``; each step applies one
op from a pool of catalogue ops (elementwise, broadcasting binary, reductions over a drawn dim,
softmax, shape ops) to earlier values. It is generated as *text* and compiled, so its ``repr`` is
the exact source that ran — paste it into a bug report after ``import torch`` and
``import torch.nn.functional as F``.

**Domains.** Every value carries an interval ``[lo, hi]`` that bounds it for inputs in
``[-1e3, 1e3]`` (what :func:`gradprops.strategies.inputs` draws without bounds), assuming at most
10⁴ elements are summed together. An op whose domain the interval does not fit is preceded by a
map into it, written into the source: ``F.softplus(v) + 0.5`` before ``log``, ``sqrt``, a
reciprocal or a divisor (softplus rather than ``exp(-v²)``: the latter underflows to 0 for
``|v| > 27``, and ``log(0)`` is ``-inf``), and ``torch.tanh(v)`` before ``exp`` or a product that
could overflow. So the forward is finite — no NaN, no inf — on every input in range.

**Shapes.** Any input shape works. Elementwise and keep-dim ops keep a value broadcastable with the
inputs; full reductions give 0-d values, which combine with anything; shape changes (transpose,
flatten, slicing) make values that only unary ops and scalars touch. With ``broadcast=True`` (the
default) several inputs are assumed to broadcast together, as ``gst.inputs("(),()")`` draws them;
pass ``broadcast=False`` for unrelated shapes.

**Shrinking** goes towards fewer steps, ops earlier in the pool (simpler), and operands that chain
the latest value; steps that do not reach an output are dropped from the source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from gradprops.strategies._validation import ArgumentError, check_bool, check_int, check_order

INPUT_BOUND = 1e3  # |x| for inputs drawn without bounds (gradprops.strategies.domains.LARGE)
MAX_SUMMED = 1e4  # elements a reduction adds up, at most (documented assumption)
LIMIT = 1e8  # no value's bound may exceed this; squash the operand first
EXP_MAX = 10.0

Interval = tuple[float, float]


@dataclass(frozen=True)
class FunctionOp:
    """One op a generated program may use.

    ``template`` is Python source with ``{0}``, ``{1}`` for operands, ``{d}`` (an int 0-3) and
    ``{k}`` (a bool) for drawn arguments. ``interval`` maps operand intervals to the result's.
    ``needs``: per operand, ``"any"``, ``"positive"`` (≥ 0.5) or ``"bounded"`` (≤ ``EXP_MAX``
    above). ``shape``: ``"elementwise"``, ``"keep"`` (same shape), ``"scalar"`` (0-d) or ``"new"``.
    ``namespace`` adds names the template uses (e.g. a custom Function planted for a test).

    >>> FunctionOp("sin", 1, "torch.sin({0})", lambda a: (-1.0, 1.0))
    FunctionOp('sin')
    """

    name: str
    arity: int
    template: str
    interval: Callable[..., Interval]
    needs: tuple[str, ...] = ()
    shape: str = "elementwise"
    namespace: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not isinstance(self.template, str):
            raise ArgumentError(f"FunctionOp: name and template must be strings, got name={self.name!r}, "
                                f"template={self.template!r}")
        if self.arity not in (1, 2) or isinstance(self.arity, bool):
            raise ArgumentError(f"FunctionOp {self.name!r}: arity must be 1 or 2, got arity={self.arity!r}")
        if not callable(self.interval):
            raise ArgumentError(f"FunctionOp {self.name!r}: interval must be a function of the operands' "
                                f"(lo, hi) intervals, got interval={self.interval!r}")
        if self.needs and (len(self.needs) != self.arity or not set(self.needs) <= set(_NEEDS)):
            raise ArgumentError(f"FunctionOp {self.name!r}: needs must give one of {_NEEDS} per operand "
                                f"({self.arity}), got needs={self.needs!r}")
        if self.shape not in _SHAPES:
            raise ArgumentError(f"FunctionOp {self.name!r}: shape must be one of {_SHAPES}, got "
                                f"shape={self.shape!r}")

    def __repr__(self) -> str:
        return f"FunctionOp({self.name!r})"


_NEEDS = ("any", "positive", "bounded")
_SHAPES = ("elementwise", "keep", "scalar", "new")


def _mono(f: Callable[[float], float]) -> Callable[[Interval], Interval]:
    return lambda a: (f(a[0]), f(a[1]))


def _mag(a: Interval) -> float:
    return max(abs(a[0]), abs(a[1]))


def _product(a: Interval, b: Interval) -> Interval:
    corners = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return (min(corners), max(corners))


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _summed(a: Interval) -> Interval:
    return (min(a[0] * MAX_SUMMED, a[0]), max(a[1] * MAX_SUMMED, a[1]))


_UNIT = (-1.0, 1.0)

#: The pool, simplest first (Hypothesis shrinks towards the front).
POOL: tuple[FunctionOp, ...] = (
    FunctionOp("neg", 1, "-{0}", lambda a: (-a[1], -a[0])),
    FunctionOp("sin", 1, "torch.sin({0})", lambda a: _UNIT),
    FunctionOp("add", 2, "{0} + {1}", lambda a, b: (a[0] + b[0], a[1] + b[1])),
    FunctionOp("mul", 2, "{0} * {1}", _product),
    FunctionOp("sub", 2, "{0} - {1}", lambda a, b: (a[0] - b[1], a[1] - b[0])),
    FunctionOp("tanh", 1, "torch.tanh({0})", lambda a: _UNIT),
    FunctionOp("cos", 1, "torch.cos({0})", lambda a: _UNIT),
    FunctionOp("sigmoid", 1, "torch.sigmoid({0})", lambda a: (0.0, 1.0)),
    FunctionOp("square", 1, "torch.square({0})",
               lambda a: (0.0 if a[0] <= 0 <= a[1] else min(a[0] ** 2, a[1] ** 2), _mag(a) ** 2)),
    FunctionOp("exp", 1, "torch.exp({0})", _mono(math.exp), needs=("bounded",)),
    FunctionOp("log", 1, "torch.log({0})", _mono(math.log), needs=("positive",)),
    FunctionOp("sqrt", 1, "torch.sqrt({0})", _mono(math.sqrt), needs=("positive",)),
    FunctionOp("div", 2, "{0} / {1}", lambda a, b: _product(a, (1 / b[1], 1 / b[0])),
               needs=("any", "positive")),
    FunctionOp("softplus", 1, "F.softplus({0})", _mono(_softplus)),
    FunctionOp("atan", 1, "torch.atan({0})", _mono(math.atan)),
    FunctionOp("erf", 1, "torch.erf({0})", _mono(math.erf)),
    FunctionOp("scale", 1, "-1.5 * {0}", lambda a: (-1.5 * a[1], -1.5 * a[0])),
    FunctionOp("sum", 1, "{0}.sum()", _summed, shape="scalar"),
    FunctionOp("sum_dim", 1, "{0}.sum(dim={d} % max({0}.ndim, 1), keepdim=True)", _summed, shape="keep"),
    FunctionOp("cumsum", 1, "torch.cumsum({0}, dim={d} % max({0}.ndim, 1))", _summed, shape="keep"),
    FunctionOp("softmax", 1, "torch.softmax({0}, dim={d} % max({0}.ndim, 1))", lambda a: (0.0, 1.0),
               shape="keep"),
    FunctionOp("log_softmax", 1, "torch.log_softmax({0}, dim={d} % max({0}.ndim, 1))",
               lambda a: (a[0] - a[1] - math.log(MAX_SUMMED), 0.0), shape="keep"),
    FunctionOp("flip", 1, "{0}.flip(dims=({d} % max({0}.ndim, 1),)) if {0}.ndim else {0}", lambda a: a,
               shape="keep"),
    FunctionOp("roll", 1, "torch.roll({0}, 1, dims={d} % max({0}.ndim, 1)) if {0}.ndim else {0}",
               lambda a: a, shape="keep"),
    FunctionOp("flatten", 1, "{0}.reshape(-1)", lambda a: a, shape="new"),
    FunctionOp("transpose", 1, "{0}.transpose(0, -1) if {0}.ndim else {0}", lambda a: a, shape="new"),
    FunctionOp("every_other", 1, "{0}[..., ::2] if {0}.ndim else {0}", lambda a: a, shape="new"),
    FunctionOp("unsqueeze", 1, "{0}.unsqueeze({d} % ({0}.ndim + 1))", lambda a: a, shape="new"),
    FunctionOp("expand", 1, "{0}.expand(2, *{0}.shape)", lambda a: a, shape="new"),
)

_SQUASH = FunctionOp("tanh", 1, "torch.tanh({0})", lambda a: _UNIT)
_POSITIVE = FunctionOp("positive", 1, "F.softplus({0}) + 0.5", lambda a: (_softplus(a[0]) + 0.5,
                                                                             _softplus(a[1]) + 0.5))


class GeneratedFunction:
    """A drawn program: call it like the function it is; ``repr`` is its source.

    >>> f = GeneratedFunction("def f(x0):\\n    v1 = torch.sin(x0)\\n    return v1\\n", 1)
    >>> f(torch.zeros(2))
    tensor([0., 0.])
    """

    def __init__(self, source: str, n_ops: int, namespace: dict[str, Any] | None = None) -> None:
        self.__gradprops_source__ = source
        self.n_ops = n_ops
        scope: dict[str, Any] = {"torch": torch, "F": F, **(namespace or {})}
        exec(compile(source, "<gradprops generated function>", "exec"), scope)
        self._fn = scope["f"]

    def __call__(self, *xs: torch.Tensor) -> Any:
        return self._fn(*xs)

    def __repr__(self) -> str:
        return self.__gradprops_source__


@dataclass
class _Value:
    name: str
    interval: Interval
    shape: str  # shape class: "S" for 0-d, else a label; equal labels broadcast together
    source: str = ""  # the assignment that defines it ("" for inputs)
    deps: tuple[int, ...] = ()
    is_op: bool = True


class _Builder:
    def __init__(self, n_inputs: int, broadcast: bool) -> None:
        self.values = [
            _Value(f"x{i}", (-INPUT_BOUND, INPUT_BOUND), "B" if broadcast else f"in{i}", is_op=False)
            for i in range(n_inputs)
        ]
        self.namespace: dict[str, Any] = {}

    def add(self, op: FunctionOp, operands: Sequence[int], d: int) -> int:
        needs = op.needs or ("any",) * op.arity
        operands = [self._fit(i, need) for i, need in zip(operands, needs)]
        if _mag(op.interval(*(self.values[i].interval for i in operands))) > LIMIT:
            # Squash the large operands that may take any value (a divisor stays ≥ 0.5): every op in
            # the pool is then bounded far below LIMIT, whatever chain led here.
            operands = [self._apply(_SQUASH, [i], 0) if need == "any" and _mag(self.values[i].interval) > 1
                        else i for i, need in zip(operands, needs)]
        return self._apply(op, operands, d)

    def _fit(self, i: int, need: str) -> int:
        lo, hi = self.values[i].interval
        if need == "positive" and lo < 0.5:
            return self._apply(_POSITIVE, [i], 0)
        if need == "bounded" and hi > EXP_MAX:
            return self._apply(_SQUASH, [i], 0)
        return i

    def _apply(self, op: FunctionOp, operands: Sequence[int], d: int) -> int:
        args = [self.values[i] for i in operands]
        name = f"v{len(self.values)}"
        expr = op.template.format(*(a.name for a in args), d=d)
        classes = {a.shape for a in args} - {"S"}
        if op.shape == "scalar":
            shape = "S"
        elif op.shape == "new":
            shape = name  # conservatively: broadcasts with nothing but 0-d values
        else:
            shape = classes.pop() if classes else "S"
        self.namespace.update(op.namespace)
        self.values.append(_Value(name, op.interval(*(a.interval for a in args)), shape,
                                  f"{name} = {expr}", tuple(operands)))
        return len(self.values) - 1

    def compatible(self, i: int, j: int) -> bool:
        a, b = self.values[i].shape, self.values[j].shape
        return a == b or "S" in (a, b)

    def source(self, outputs: Sequence[int], n_inputs: int) -> tuple[str, int]:
        live: set[int] = set()
        stack = list(outputs)
        while stack:
            i = stack.pop()
            if i not in live:
                live.add(i)
                stack.extend(self.values[i].deps)
        body = [f"    {v.source}" for i, v in enumerate(self.values) if i in live and v.is_op]
        params = ", ".join(f"x{i}" for i in range(n_inputs))
        ret = ", ".join(self.values[i].name for i in outputs)
        return f"def f({params}):\n" + "\n".join([*body, f"    return {ret}"]) + "\n", len(body)


_STEP = st.tuples(st.integers(0, 2**16), st.integers(0, 7), st.integers(0, 7), st.integers(0, 3))


def functions(
    n_inputs: int = 1,
    n_outputs: int = 1,
    max_ops: int = 6,
    *,
    ops: Sequence[FunctionOp] | None = None,
    extra_ops: Sequence[FunctionOp] = (),
    broadcast: bool = True,
) -> st.SearchStrategy[GeneratedFunction]:
    """Random differentiable programs of up to ``max_ops`` steps over ``n_inputs`` tensors.

    ``ops`` replaces the pool (default :data:`POOL`); ``extra_ops`` are added to it — e.g. a custom
    ``torch.autograd.Function`` to see that :func:`gradprops.check` finds it inside a program.
    The result returns ``n_outputs`` tensors (one tensor when 1). See the module docstring for
    domains, shapes and shrinking.

    >>> import gradprops
    >>> from gradprops import strategies as gst
    >>> gradprops.check(gst.functions(), gst.inputs("()"), max_examples=3, seed=0).examples
    3
    """
    for name, value in (("n_inputs", n_inputs), ("n_outputs", n_outputs), ("max_ops", max_ops)):
        check_int(value, name, minimum=1)
    check_order("n_outputs", n_outputs, "max_ops", max_ops)  # each output is a step's result
    check_bool(broadcast, "broadcast")
    pool = _op_list(POOL if ops is None else ops, "ops") + _op_list(extra_ops, "extra_ops")
    if not pool:
        raise ArgumentError("ops and extra_ops give no op to build programs from: pass at least one FunctionOp, "
                            "or leave ops out for the default POOL")
    steps = st.lists(_STEP, min_size=n_outputs, max_size=max(max_ops, n_outputs))
    return steps.map(lambda s: _build(s, pool, n_inputs, n_outputs, broadcast))


def _op_list(value: Any, name: str) -> tuple[FunctionOp, ...]:
    if isinstance(value, (str, FunctionOp)) or not isinstance(value, Sequence) or not all(
            isinstance(op, FunctionOp) for op in value):
        raise ArgumentError(f"{name} must be a sequence of FunctionOp (e.g. POOL[:8] or [my_op]), got "
                            f"{name}={value!r}"[:300])
    return tuple(value)


def _build(steps: Sequence[tuple[int, int, int, int]], pool: Sequence[FunctionOp], n_inputs: int,
           n_outputs: int, broadcast: bool) -> GeneratedFunction:
    b = _Builder(n_inputs, broadcast)
    for op_index, first, second, d in steps:
        op = pool[op_index % len(pool)]
        count = len(b.values)
        a = count - 1 - first % count  # 0 chains the latest value
        operands = [a]
        if op.arity == 2:
            candidates = [count - 1 - (second + k) % count for k in range(count)]
            operands.append(next(c for c in candidates if b.compatible(a, c)))
        b.add(op, operands, d)
    last = len(b.values)
    outputs = list(range(max(n_inputs, last - n_outputs), last))
    while len(outputs) < n_outputs:
        outputs.append(outputs[-1])
    source, n_ops = b.source(outputs, n_inputs)
    return GeneratedFunction(source, n_ops, b.namespace)
