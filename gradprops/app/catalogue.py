"""The built-in catalogue: torch ops described once each — signature, domain, kinks, drawn arguments.

Every :class:`Entry` is a Python expression template over its inputs (``x``, ``y``, ...) with
``{placeholders}`` for arguments Hypothesis draws (dims, keepdim, exponents, index seeds). The
callable under test is compiled *from that text*, so what a report prints is exactly what ran and
can be pasted into a bug report with ``import torch; import torch.nn.functional as F``.

Arguments that depend on the input's rank or sizes are drawn as plain integers and reduced at call
time (``dim={d} % x.ndim``, indices ``% x.shape[...]``), so the function is drawn independently of
the inputs — ``entry.strategies()`` gives the pair ``(fn_strategy, inputs_strategy)`` that
:func:`gradprops.check` takes.

Domains keep every op where it is finite and smooth: ``low``/``high``/``positive`` bound the
values, ``exclude`` keeps them off kinks (``relu`` at 0). Ops that need structure build it inside
the op from an unconstrained drawn matrix, written in the template so it is visible:

* *well-conditioned square matrices* (inv, solve, det, ...): ``x + n·I`` with entries of ``x`` in
  [-0.9, 0.9] — strictly diagonally dominant, so invertible with condition number ≤ (2n)/(0.1·n).
* *SPD matrices* (cholesky, logdet, cholesky_solve): ``x @ x.mT + n·I`` — eigenvalues ≥ n.

Integer arguments (gather/index_select indices, cross_entropy targets, embedding ids) are built
inside the op from a drawn integer list and the input's sizes, so they are held fixed.

>>> entry = ENTRIES["sum_dim"]
>>> fn_strategy, inputs_strategy = entry.strategies()
>>> from hypothesis import find
>>> repr(find(fn_strategy, lambda f: True))
'torch.sum(x, dim=0 % x.ndim, keepdim=False)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import Tensor

from gradprops import strategies as gst
from gradprops.properties.registry import PROPERTIES

NAMESPACE: dict[str, Any] = {"torch": torch, "F": F, "math": math}

DIMS = st.integers(0, 3)  # reduced modulo the rank at call time
BOOLS = st.booleans()
INDEX_LIST = st.lists(st.integers(0, 9), min_size=1, max_size=4)  # reduced modulo a size
SEED = st.integers(0, 99)  # seeds a torch.Generator for permutations and masks


@lru_cache(maxsize=4096)
def compile_source(params: str, body: str) -> Callable[..., Any]:
    """``lambda params: body`` evaluated with torch, F and math in scope (cached by its text).

    >>> compile_source("x", "x * 2")(torch.tensor(3.0))
    tensor(6.)
    """
    return eval(f"lambda {params}: {body}", dict(NAMESPACE))


class DrawnOp:
    """A catalogue op with its arguments drawn: callable, readable, and runnable from its repr.

    >>> op = DrawnOp("x", "torch.sum(x, dim={d} % x.ndim)", {"d": 1})
    >>> op
    torch.sum(x, dim=1 % x.ndim)
    >>> op.__gradprops_source__
    'lambda x: torch.sum(x, dim=1 % x.ndim)'
    """

    def __init__(self, params: str, template: str, args: Mapping[str, Any]) -> None:
        self.text = template.format(**{k: repr(v) for k, v in args.items()})
        self.params = params
        self.__gradprops_source__ = f"lambda {params}: {self.text}"
        self._fn = compile_source(params, self.text)

    def __call__(self, *xs: Tensor) -> Any:
        return self._fn(*xs)

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Entry:
    """One torch op: how to call it, on what inputs, and what autograd features it is expected to have.

    Attributes:
        name: unique key, e.g. ``"sum_dim"``.
        template: expression over ``params`` with ``{arg}`` placeholders for drawn arguments.
        signature: as :func:`gradprops.strategies.inputs` takes it.
        kind: ``unary``, ``binary``, ``reduction``, ``shape``, ``linalg`` or ``nn``.
        params: the inputs' names in the template, e.g. ``"x, y"``.
        args: strategies for the placeholders.
        inputs_kw: domain and size arguments for ``gst.inputs`` (low, high, exclude, positive,
            margin, max_batch_dims, max_side).
        nonempty: leave out inputs with a size-0 dim (indexing ops need at least one element).
        note: why the domain is what it is, or what the op builds inside.
        known: property name -> why it is known to fail here (a torch bug, or a false alarm of
            gradprops' own): run separately and reported as an expected failure, never hidden. A
            key ``"property/dtype"`` limits it to that dtype (see :meth:`known_in`).
    """

    name: str
    template: str
    signature: str
    kind: str
    params: str = "x"
    args: Mapping[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    inputs_kw: Mapping[str, Any] = field(default_factory=dict)
    nonempty: bool = False
    note: str = ""
    known: Mapping[str, str] = field(default_factory=dict)


    def known_in(self, dtype: str) -> dict[str, str]:
        """The known failures that apply to a run in ``dtype`` (a torch dtype's name).

        >>> ENTRIES["layer_norm_affine"].known_in("float16")["low_precision"][:40]
        "torch finding: layer_norm's float16 and "
        >>> "low_precision" in ENTRIES["layer_norm_affine"].known_in("float32")
        False
        """
        return {key.split("/")[0]: reason for key, reason in self.known.items()
                if "/" not in key or key.split("/")[1] == dtype}
    def fn_strategy(self) -> st.SearchStrategy[DrawnOp]:
        """The op with its arguments drawn (independently of the inputs)."""
        if not self.args:
            return st.just(DrawnOp(self.params, self.template, {}))
        return st.fixed_dictionaries(dict(self.args)).map(
            lambda a: DrawnOp(self.params, self.template, a)
        )

    def inputs_strategy(self, dtype: torch.dtype = torch.float64) -> st.SearchStrategy[tuple[Tensor, ...]]:
        """Inputs in the op's domain, in ``dtype``."""
        strategy = gst.inputs(self.signature, dtype=dtype, **dict(self.inputs_kw))
        if self.nonempty:
            strategy = strategy.filter(lambda xs: all(x.numel() > 0 for x in xs))
        return strategy

    def strategies(
        self, dtype: torch.dtype = torch.float64
    ) -> tuple[st.SearchStrategy[DrawnOp], st.SearchStrategy[tuple[Tensor, ...]]]:
        """``(fn_strategy, inputs_strategy)`` ready for :func:`gradprops.check`.

        >>> import gradprops
        >>> fn, inputs = ENTRIES["sin"].strategies()
        >>> gradprops.check(fn, inputs, max_examples=2, seed=0).examples
        2
        """
        return self.fn_strategy(), self.inputs_strategy(dtype)


def _e(name: str, template: str, signature: str = "()", kind: str = "unary", **kw: Any) -> Entry:
    return Entry(name, template, signature, kind, **kw)


def _unary(name: str, template: str, **inputs_kw: Any) -> Entry:
    note = inputs_kw.pop("note", "")
    known = inputs_kw.pop("known", {})
    return Entry(name, template, "()", "unary", inputs_kw=inputs_kw, note=note, known=known)


#: Torch findings (torch 2.13, CPU), kept as expected failures so a fix shows up as an unexpected pass.
TORCH_LOGCUMSUMEXP_JVP = (
    "torch finding: logcumsumexp's forward-mode AD (JVP) is off by ~1e-6 relative in float64 while "
    "backward agrees with finite differences to ~1e-9"
)
TORCH_LOGCUMSUMEXP_DOUBLE_BACKWARD = (
    "torch finding: logcumsumexp's backward takes the log of grad_output's positive and negative parts, "
    "so its derivative in grad_output is NaN wherever grad_output is exactly 0 (x = [1, 2, 0.5], "
    "v = [0.3, 0, -0.2]: d⟨backward(v), t⟩/dv = [1, nan, 1]); found at float16 seed 0 of "
    "benchmarks/false_alarms.py"
)
TORCH_LAYER_NORM_HALF_SUMS = (
    "torch finding: layer_norm's float16 and bfloat16 CPU backward rounds the partial sums behind the "
    "weight and bias grads to the 16-bit type (the bias grad, a plain sum of the seed over 9 rows, is up to "
    "1024 float16 / 128 bfloat16 units in the last place of the result off, where a float32 sum is off by "
    "half a unit); found at float16 and bfloat16 seed 0 of benchmarks/false_alarms.py"
)
TORCH_BF16_MATMUL_READS_PADDING = (
    "torch finding: bfloat16 CPU matrix products (oneDNN, AVX-512) read the elements between the rows of "
    "a row-strided operand: torch.mm(t[:, :3], y) with t of shape (342, 4) whose last column is nan "
    "gives nan in 704 of 1,368 outputs (float16/32/64, and bfloat16 below ~300 rows or with "
    "torch.backends.mkldnn disabled, give the exact product); gradprops fills storage outside a view "
    "with nan, so low_precision sees it (bfloat16 seeds 6 and 8 of benchmarks/false_alarms.py); "
    "the same family as oneDNN issue 5717"
)
TORCH_BF16_CONV_UNINITIALISED = (
    "torch finding: bfloat16 CPU convolution backward reads memory it never wrote when the stride skips "
    "a kernel tap: F.conv1d(x, w, padding=1, stride=2) with x = ones(1, 1, 1), w = [[[1, 0]]] and a seed "
    "of -0.0078125 gives grad_w[0] = 0 in float16/32/64, and garbage (-6.5e15, 1e-10, nan) in 57 of 400 "
    "bfloat16 calls; every property can see it, so none is counted in bfloat16 (found by purity, "
    "bfloat16 seeds 0 and 1 of benchmarks/false_alarms.py)"
)
TORCH_MATRIX_EXP_HALF = (
    "torch finding: matrix_exp's backward exponentiates a block matrix that holds the seed, so how it "
    "rounds depends on the seed's size: in float16/bfloat16 it is hundreds of times off the float64 grad "
    "(bfloat16, x = [[-0.6377]], seed -0.0073: -1.64 against -0.0039) and not linear in its seed, and in "
    "float32 backward(v) differs from vᵀJ built from one-hot seeds beyond rounding"
)
TORCH_ACOSH_HALF = (
    "torch finding: float16 acosh's backward is 0 from x = 256 on, where x² overflows 65504 inside it; "
    "the true grad (0.0033 at x = 300) is representable in float16"
)
TORCH_BILINEAR_HALF_SUMS = (
    "torch finding: F.bilinear's float16/bfloat16 CPU backward rounds partial sums to the 16-bit type: "
    "x = y = [[1]], w = [-3, 0, 1, 0, 0, 3] (shape (6, 1, 1)), seed [0.5156, -0.4414, -0.1938, 0.4697, "
    "-0.9414, 0.5996] give grad x = 0.05859 in float16 where the exact sum and a float32 accumulation "
    "rounded once both give 0.05811 (bfloat16: 0.0625 against 0.06445)"
)
TORCH_ERF_BF16_TINY = (
    "torch finding: bfloat16 erf returns 0 at x = 5.4e-20, where erf(x) = 6.1e-20 is representable in "
    "bfloat16 (float32 erf gives it): tiny inputs are flushed to zero"
)
TORCH_PROD_BF16 = (
    "torch finding: bfloat16 prod accumulates its product in bfloat16: over 51 values in [0.5, 2] it is up "
    "to 3.4% (8.8 units of roundoff) off, and equals a bfloat16 loop (2.609 where the exact product is "
    "2.653 and a float32 accumulation rounded once gives 2.656)"
)
TORCH_LOGSIGMOID_DOUBLE_BACKWARD = (
    "torch finding: F.logsigmoid's double backward is exactly 0 for x >= 37 (float64), where the second "
    "derivative is -σ(x)σ(-x) = -8.5e-17 at x = 37; it loses relative accuracy from x = 20 on (σ(1 - σ) cancels)"
)
TORCH_POW_EXPONENT_ZERO = (
    "torch finding: torch.pow(x, y)'s double backward is wrong where y == 0: ∂/∂y of ∂(x^y)/∂x is 0 "
    "instead of 1/x (pow's backward masks y == 0 with torch.where, whose derivative in y is 0)"
)
TORCH_ALIASED_GRADS = (
    "torch finding: the backward of torch.stack and torch.cat hands AccumulateGrad views of its seed, "
    "which it keeps as .grad; with a seed that repeats along the joined dim (stride 0), x.grad and y.grad "
    "are one piece of memory, and the next backward adds both grads into both (pytorch/pytorch#34082)"
)
TORCH_KRON_STRIDE0 = (
    "torch finding: torch.kron raises 'view size is not compatible with input tensor's size and "
    "stride' when its second input is transposed (e.g. torch.kron(torch.ones(1, 2), "
    "torch.randn(2, 2).mT)), with or without grad"
)
TORCH_CHOLESKY_SOLVE_JVP = (
    "torch finding: torch.cholesky_solve's forward-mode AD (JVP) is wrong when the right-hand side "
    "broadcasts against a batch of factors (y (n,k), L (b,n,n)); backward agrees with finite differences"
)
TORCH_MATRIX_EXP_STRIDES = (
    "torch finding: torch.linalg.matrix_exp raises 'view size is not compatible with input tensor's size "
    "and stride' when its two or more batch dims cannot be flattened by a view: permuted "
    "(torch.randn(2, 2, 3, 3).transpose(0, 1)), expanded (torch.randn(2, 3, 3).expand(2, 2, 3, 3)) or "
    "a strided slice"
)
TORCH_MISH_DOUBLE_BACKWARD = (
    "torch finding: F.mish's double backward is NaN for large x (x = 1000: the grad is 1, its derivative "
    "0, double backward NaN)"
)
#: For ops whose forward raises on some layouts: every property fails there, the ones added later too.
_ALL_PROPERTIES = tuple(p.name for p in PROPERTIES)

_POS = {"positive": True, "low": 1e-2, "high": 1e3}
_MATRIX = {"low": -0.9, "high": 0.9, "max_side": 4}
_WELL = "x + x.shape[-1] * torch.eye(x.shape[-1], dtype=x.dtype)"  # diagonally dominant
_SPD = "x @ x.mT + x.shape[-1] * torch.eye(x.shape[-1], dtype=x.dtype)"  # eigenvalues >= n

UNARY = [
    _unary("sin", "torch.sin(x)"),
    _unary("cos", "torch.cos(x)"),
    _unary("tan", "torch.tan(x)", low=-1.4, high=1.4, note="poles at ±π/2"),
    _unary("tanh", "torch.tanh(x)"),
    _unary("sigmoid", "torch.sigmoid(x)"),
    _unary("exp", "torch.exp(x)", low=-5.0, high=5.0),
    _unary("exp2", "torch.exp2(x)", low=-5.0, high=5.0),
    _unary("expm1", "torch.expm1(x)", low=-5.0, high=5.0),
    _unary("log", "torch.log(x)", **_POS),
    _unary("log2", "torch.log2(x)", **_POS),
    _unary("log10", "torch.log10(x)", **_POS),
    _unary("log1p", "torch.log1p(x)", low=-0.9, high=1e3),
    _unary("sqrt", "torch.sqrt(x)", **_POS),
    _unary("rsqrt", "torch.rsqrt(x)", **_POS),
    _unary("reciprocal", "torch.reciprocal(x)", low=0.1, high=10.0),
    _unary("abs", "torch.abs(x)", exclude=(0.0,), margin=1e-3, note="kink at 0"),
    _unary("neg", "torch.neg(x)"),
    _unary("square", "torch.square(x)"),
    _unary("asin", "torch.asin(x)", low=-0.9, high=0.9),
    _unary("acos", "torch.acos(x)", low=-0.9, high=0.9),
    _unary("atan", "torch.atan(x)"),
    _unary("sinh", "torch.sinh(x)", low=-5.0, high=5.0),
    _unary("cosh", "torch.cosh(x)", low=-5.0, high=5.0),
    _unary("asinh", "torch.asinh(x)"),
    _unary("acosh", "torch.acosh(x)", low=1.1, high=1e3, known={"low_precision/float16": TORCH_ACOSH_HALF}),
    _unary("atanh", "torch.atanh(x)", low=-0.9, high=0.9),
    _unary("erf", "torch.erf(x)", low=-5.0, high=5.0, known={"low_precision/bfloat16": TORCH_ERF_BF16_TINY}),
    _unary("erfc", "torch.erfc(x)", low=-5.0, high=5.0),
    _unary("erfinv", "torch.erfinv(x)", low=-0.9, high=0.9),
    _unary("lgamma", "torch.lgamma(x)", low=0.1, high=10.0),
    _unary("digamma", "torch.digamma(x)", low=0.5, high=10.0),
    _unary("logit", "torch.logit(x)", low=0.05, high=0.95),
    _unary("relu", "torch.relu(x)", exclude=(0.0,), margin=1e-3, note="kink at 0"),
    _unary("gelu", "F.gelu(x)"),
    _unary("gelu_tanh", "F.gelu(x, approximate='tanh')"),
    _unary("silu", "F.silu(x)"),
    _unary("softplus", "F.softplus(x)"),
    _unary("elu", "F.elu(x)", exclude=(0.0,), margin=1e-3, note="second derivative jumps at 0"),
    _unary("selu", "F.selu(x)", exclude=(0.0,), margin=1e-3, note="kink at 0"),
    _unary("celu", "F.celu(x, alpha=0.5)", exclude=(0.0,), margin=1e-3, note="second derivative jumps at 0"),
    _unary("leaky_relu", "F.leaky_relu(x, 0.1)", exclude=(0.0,), margin=1e-3, note="kink at 0"),
    _unary("hardtanh", "F.hardtanh(x)", exclude=(-1.0, 1.0), margin=1e-3, note="kinks at ±1"),
    _e("logsigmoid", "F.logsigmoid(x)", known={"second_order": TORCH_LOGSIGMOID_DOUBLE_BACKWARD}),
    Entry("mish", "F.mish(x)", "()", "unary", known={"second_order": TORCH_MISH_DOUBLE_BACKWARD}),
    _unary("softsign", "F.softsign(x)", exclude=(0.0,), margin=1e-3,
           note="second derivative jumps at 0 (|x| in the denominator)"),
    _unary("i0", "torch.special.i0(x)", low=-5.0, high=5.0),
    _unary("clamp", "torch.clamp(x, -0.5, 0.5)", exclude=(-0.5, 0.5), margin=1e-3, note="kinks at ±0.5"),
    _e("pow_int", "torch.pow(x, {p})", args={"p": st.sampled_from([2, 3, 4, 1, 0])}),
    _e("pow_real", "torch.pow(x, {p})", args={"p": st.sampled_from([0.5, 1.5, -0.5, 2.5, -1.0])},
       inputs_kw={"low": 0.1, "high": 100.0}, note="fractional powers: positive base"),
    _e("mul_scalar", "x * {c}", args={"c": st.sampled_from([2.0, -0.5, 0.0, 3.0])}),
]

BINARY = [
    _e("add", "torch.add(x, y, alpha={a})", "(),()", "binary", params="x, y",
       args={"a": st.sampled_from([1.0, -2.0, 0.5])}),
    _e("sub", "torch.sub(x, y)", "(),()", "binary", params="x, y"),
    _e("mul", "torch.mul(x, y)", "(),()", "binary", params="x, y"),
    _e("div", "torch.div(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (None, 0.5), "high": (None, 4.0)}, note="denominator in [0.5, 4]"),
    _e("atan2", "torch.atan2(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (None, 0.5), "high": (None, 4.0)}, note="y > 0 keeps off the branch cut"),
    _e("maximum", "torch.maximum(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (-1.0, 2.0), "high": (1.0, 3.0)}, note="disjoint ranges: no ties"),
    _e("minimum", "torch.minimum(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (-1.0, 2.0), "high": (1.0, 3.0)}, note="disjoint ranges: no ties"),
    _e("pow", "torch.pow(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (0.5, -2.0), "high": (3.0, 2.0)}, note="positive base",
       known={"second_order": TORCH_POW_EXPONENT_ZERO}),
    _e("hypot", "torch.hypot(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (0.5, None), "high": (10.0, None)}, note="x > 0: off the cone point (0, 0)"),
    _e("xlogy", "torch.xlogy(x, y)", "(),()", "binary", params="x, y",
       inputs_kw={"low": (None, 0.1), "high": (None, 100.0)}),
    _e("lerp", "torch.lerp(x, y, w)", "(),(),()", "binary", params="x, y, w"),
    _e("addcmul", "torch.addcmul(x, y, w, value={v})", "(),(),()", "binary", params="x, y, w",
       args={"v": st.sampled_from([1.0, -0.5])}),
    _e("addcdiv", "torch.addcdiv(x, y, w)", "(),(),()", "binary", params="x, y, w",
       inputs_kw={"low": (None, None, 0.5), "high": (None, None, 4.0)}),
    _e("where_mask", "torch.where(torch.rand(torch.broadcast_shapes(x.shape, y.shape), "
       "generator=torch.Generator().manual_seed({s})) > 0.5, x, y)", "(),()", "binary",
       params="x, y", args={"s": SEED}, note="a fixed random mask, seeded"),
    _e("squared_difference", "(x - y) ** 2", "(),()", "binary", params="x, y"),
]

_DIM_KEEP = {"d": DIMS, "k": BOOLS}
REDUCTION = [
    _e("sum_all", "torch.sum(x)", kind="reduction"),
    _e("mean_all", "torch.mean(x)", kind="reduction", nonempty=True, note="mean of nothing is NaN"),
    _e("sum_dim", "torch.sum(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction", args=_DIM_KEEP),
    _e("mean_dim", "torch.mean(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction", args=_DIM_KEEP,
       nonempty=True),
    _e("prod_dim", "torch.prod(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction", args=_DIM_KEEP,
       inputs_kw={"low": 0.5, "high": 2.0}, known={"low_precision/bfloat16": TORCH_PROD_BF16}),
    _e("amax_dim", "torch.amax(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction", args=_DIM_KEEP,
       nonempty=True, note="ties split the grad evenly; finite differences skip those points"),
    _e("amin_dim", "torch.amin(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction", args=_DIM_KEEP,
       nonempty=True),
    _e("max_dim", "torch.max(x, dim={d} % x.ndim, keepdim={k}).values", "(n)", "reduction",
       args=_DIM_KEEP, nonempty=True),
    _e("logsumexp", "torch.logsumexp(x, dim={d} % x.ndim, keepdim={k})", "(n)", "reduction",
       args=_DIM_KEEP),
    _e("var", "torch.var(x, dim={d} % x.ndim, correction=0, keepdim={k})", "(n)", "reduction",
       args=_DIM_KEEP, nonempty=True),
    _e("vector_norm", "torch.linalg.vector_norm(x, ord={o}, dim={d} % x.ndim)", "(n)", "reduction",
       args={"o": st.sampled_from([2, 1, 3]), "d": DIMS}, inputs_kw={"low": 0.1, "high": 10.0},
       nonempty=True, note="positive entries: the norm is smooth away from 0"),
    _e("cumsum", "torch.cumsum(x, dim={d} % x.ndim)", "(n)", "reduction", args={"d": DIMS}),
    _e("cumprod", "torch.cumprod(x, dim={d} % x.ndim)", "(n)", "reduction", args={"d": DIMS},
       inputs_kw={"low": 0.5, "high": 2.0}, note="no zeros: cumprod's backward divides"),
    _e("logcumsumexp", "torch.logcumsumexp(x, dim={d} % x.ndim)", "(n)", "reduction", args={"d": DIMS},
       inputs_kw={"low": -10.0, "high": 10.0},
       known={"forward_reverse_adjoint": TORCH_LOGCUMSUMEXP_JVP, "second_order": TORCH_LOGCUMSUMEXP_DOUBLE_BACKWARD}),
    _e("sort_values", "torch.sort(x, dim={d} % x.ndim, descending={k}).values", "(n)", "reduction",
       args=_DIM_KEEP),
    _e("topk", "torch.topk(x, 1 + {j} % x.shape[-1], dim=-1).values", "(n)", "reduction",
       args={"j": st.integers(0, 5)}, nonempty=True),
    _e("trace", "torch.trace(x)", "(m,n)", "reduction", inputs_kw={"max_batch_dims": 0}),
    _e("diff", "torch.diff(x, dim={d} % x.ndim)", "(n)", "reduction", args={"d": DIMS}),
]

SHAPE = [
    _e("reshape_flat", "x.reshape(-1)", kind="shape"),
    _e("reshape_reversed", "x.reshape(tuple(reversed(x.shape)))", kind="shape"),
    _e("flatten", "torch.flatten(x, start_dim={d} % x.ndim)", "(n)", "shape", args={"d": DIMS}),
    _e("permute", "x.permute(tuple(torch.randperm(x.ndim, generator=torch.Generator().manual_seed({s})).tolist()))",
       kind="shape", args={"s": SEED}),
    _e("transpose", "torch.transpose(x, {a} % x.ndim, {b} % x.ndim)", "(n)", "shape",
       args={"a": DIMS, "b": DIMS}),
    _e("movedim", "torch.movedim(x, {a} % x.ndim, -1)", "(n)", "shape", args={"a": DIMS}),
    _e("expand", "x.expand({n}, *x.shape)", kind="shape", args={"n": st.integers(1, 3)}),
    _e("unsqueeze", "torch.unsqueeze(x, {d} % (x.ndim + 1))", kind="shape", args={"d": DIMS}),
    _e("squeeze", "torch.squeeze(x)", kind="shape"),
    _e("flip", "torch.flip(x, dims=({d} % x.ndim,))", "(n)", "shape", args={"d": DIMS}),
    _e("roll", "torch.roll(x, {r}, dims={d} % x.ndim)", "(n)", "shape",
       args={"r": st.integers(-3, 3), "d": DIMS}),
    _e("slice_step", "x[..., {a}::{s}]", "(n)", "shape",
       args={"a": st.integers(0, 2), "s": st.integers(1, 3)}),
    _e("narrow", "torch.narrow(x, -1, {a} % x.shape[-1], 1)", "(n)", "shape",
       args={"a": st.integers(0, 5)}, nonempty=True),
    _e("select", "torch.select(x, {d} % x.ndim, {i} % x.shape[{d} % x.ndim])", "(n)", "shape",
       args={"d": DIMS, "i": st.integers(0, 5)}, nonempty=True),
    _e("cat", "torch.cat((x, y), dim={d} % x.ndim)", "(a,m),(a,m)", "shape", params="x, y",
       args={"d": st.integers(0, 1)}, inputs_kw={"max_batch_dims": 0}, known={"purity": TORCH_ALIASED_GRADS}),
    _e("stack", "torch.stack((x, y), dim={d} % (x.ndim + 1))", "(a,b),(a,b)", "shape", params="x, y",
       args={"d": DIMS}, inputs_kw={"max_batch_dims": 0}, known={"purity": TORCH_ALIASED_GRADS}),
    _e("chunk", "torch.chunk(x, {c}, dim=-1)", "(n)", "shape", args={"c": st.integers(1, 3)},
       nonempty=True, note="returns a tuple: every chunk is an output"),
    _e("unbind", "torch.unbind(x, dim={d} % x.ndim)", "(n)", "shape", args={"d": DIMS}, nonempty=True),
    _e("repeat", "x.repeat(2, *([1] * x.ndim))", kind="shape"),
    _e("tile", "torch.tile(x, (2, 1))", "(m,n)", "shape"),
    _e("gather", "torch.gather(x, -1, torch.tensor({i}).repeat(math.prod(x.shape[:-1]))"
       ".reshape(*x.shape[:-1], -1) % x.shape[-1])", "(n)", "shape", args={"i": INDEX_LIST},
       nonempty=True, note="indices fixed: the drawn list modulo the last size, on every row"),
    _e("index_select", "torch.index_select(x, {d} % x.ndim, torch.tensor({i}) % x.shape[{d} % x.ndim])",
       "(n)", "shape", args={"d": DIMS, "i": INDEX_LIST}, nonempty=True,
       note="repeated indices accumulate grads"),
    _e("take_along_dim", "torch.take_along_dim(x, torch.argsort(x.detach(), dim=-1, stable=True), dim=-1)", "(n)",
       "shape", note="indices from argsort of the detached input: a fixed permutation per example"),
    _e("masked_fill", "x.masked_fill(torch.rand(x.shape, generator=torch.Generator().manual_seed({s})) > 0.5, "
       "{v})", kind="shape", args={"s": SEED, "v": st.sampled_from([0.0, 1.5])}),
    _e("tril", "torch.tril(x, {k})", "(m,n)", "shape", args={"k": st.integers(-1, 1)}),
    _e("triu", "torch.triu(x, {k})", "(m,n)", "shape", args={"k": st.integers(-1, 1)}),
    _e("diagonal", "torch.diagonal(x, offset={k}, dim1=-2, dim2=-1)", "(m,n)", "shape",
       args={"k": st.integers(-1, 1)}),
    _e("diag_embed", "torch.diag_embed(x)", "(n)", "shape", inputs_kw={"max_elements": 1024},
       note="an n x n output per vector: inputs of up to 1,024 elements keep outputs within a million "
       "(at the default budget n reaches 2,048, and a batch of them, 4 million elements per output)"),
    _e("pad", "F.pad(x, ({a}, {b}))", "(n)", "shape",
       args={"a": st.integers(0, 2), "b": st.integers(0, 2)}),
    _e("unfold", "x.unfold(-1, 1 + {s} % x.shape[-1], 1)", "(n)", "shape", args={"s": st.integers(0, 3)},
       nonempty=True, note="overlapping windows: grads accumulate"),
    _e("as_strided_view", "x.contiguous().view(-1)[::2]", kind="shape"),
]

LINALG = [
    _e("matmul", "torch.matmul(x, y)", "(m,n),(n,p)", "linalg", params="x, y",
       known={"low_precision/bfloat16": TORCH_BF16_MATMUL_READS_PADDING}),
    _e("mm", "torch.mm(x, y)", "(m,n),(n,p)", "linalg", params="x, y", inputs_kw={"max_batch_dims": 0},
       known={"low_precision/bfloat16": TORCH_BF16_MATMUL_READS_PADDING}),
    _e("bmm", "torch.bmm(x, y)", "(b,m,n),(b,n,p)", "linalg", params="x, y",
       inputs_kw={"max_batch_dims": 0}),
    _e("mv", "torch.mv(x, y)", "(m,n),(n)", "linalg", params="x, y", inputs_kw={"max_batch_dims": 0}),
    _e("dot", "torch.dot(x, y)", "(n),(n)", "linalg", params="x, y", inputs_kw={"max_batch_dims": 0}),
    _e("outer", "torch.outer(x, y)", "(m),(n)", "linalg", params="x, y", inputs_kw={"max_batch_dims": 0}),
    _e("einsum_matmul", "torch.einsum('...ij,...jk->...ik', x, y)", "(m,n),(n,p)", "linalg",
       params="x, y"),
    _e("einsum_contract", "torch.einsum('ij,jk,kl->il', x, y, z)", "(a,b),(b,c),(c,d)", "linalg",
       params="x, y, z", inputs_kw={"max_batch_dims": 0}),
    _e("tensordot", "torch.tensordot(x, y, dims=1)", "(m,n),(n,p)", "linalg", params="x, y",
       inputs_kw={"max_batch_dims": 0}, known={"low_precision/bfloat16": TORCH_BF16_MATMUL_READS_PADDING}),
    _e("addmm", "torch.addmm(z, x, y, beta={b}, alpha={a})", "(m,n),(n,p),(m,p)", "linalg",
       params="x, y, z", args={"a": st.sampled_from([1.0, -0.5]), "b": st.sampled_from([1.0, 2.0])},
       inputs_kw={"max_batch_dims": 0}, known={"low_precision/bfloat16": TORCH_BF16_MATMUL_READS_PADDING}),
    _e("inv", f"torch.linalg.inv({_WELL})", "(n,n)", "linalg", inputs_kw=_MATRIX,
       note="x + n·I with |x| ≤ 0.9: strictly diagonally dominant"),
    _e("solve", f"torch.linalg.solve({_WELL}, y)", "(n,n),(n,k)", "linalg", params="x, y",
       inputs_kw={"low": (-0.9, None), "high": (0.9, None), "max_side": 4},
       note="x + n·I with |x| ≤ 0.9: strictly diagonally dominant"),
    _e("det", f"torch.linalg.det({_WELL})", "(n,n)", "linalg", inputs_kw=_MATRIX),
    _e("slogdet", f"torch.linalg.slogdet({_WELL}).logabsdet", "(n,n)", "linalg", inputs_kw=_MATRIX),
    _e("cholesky", f"torch.linalg.cholesky({_SPD})", "(n,n)", "linalg", inputs_kw=_MATRIX,
       note="x xᵀ + n·I: symmetric positive definite, eigenvalues ≥ n"),
    _e("logdet_spd", f"torch.logdet({_SPD})", "(n,n)", "linalg", inputs_kw=_MATRIX),
    _e("cholesky_solve", f"torch.cholesky_solve(y, torch.linalg.cholesky({_SPD}))", "(n,n),(n,k)",
       "linalg", params="x, y", inputs_kw={"low": (-0.9, None), "high": (0.9, None), "max_side": 4},
       known={"forward_reverse_adjoint": TORCH_CHOLESKY_SOLVE_JVP}),
    _e("solve_triangular", f"torch.linalg.solve_triangular(torch.tril({_WELL}), y, upper=False)",
       "(n,n),(n,k)", "linalg", params="x, y",
       inputs_kw={"low": (-0.9, None), "high": (0.9, None), "max_side": 4}),
    _e("matrix_exp", "torch.linalg.matrix_exp(x)", "(n,n)", "linalg",
       inputs_kw={**_MATRIX, "max_batch_dims": 1},
       known={**{f"{p}/{d}": TORCH_MATRIX_EXP_HALF for p in _ALL_PROPERTIES for d in ("float16", "bfloat16")},
              **{f"{p}/float32": TORCH_MATRIX_EXP_HALF
                 for p in ("vjp_matches_jacobian", "seed_linearity", "low_precision")}},
       note="one batch dim: two that a view cannot flatten raise, see matrix_exp_batch_permuted"),
    _e("matrix_exp_batch_permuted", "torch.linalg.matrix_exp(x.transpose(0, 1))", "(a,b,n,n)", "linalg",
       inputs_kw={**_MATRIX, "max_batch_dims": 0, "layouts": ("contiguous",)}, nonempty=True,
       known=dict.fromkeys(_ALL_PROPERTIES, TORCH_MATRIX_EXP_STRIDES),
       note="forward raises once both batch dims exceed 1 and n > 1: every property fails"),
    _e("matrix_norm_fro", "torch.linalg.matrix_norm(x)", "(m,n)", "linalg",
       inputs_kw={"low": 0.1, "high": 10.0}, nonempty=True, note="positive entries: away from 0"),
    _e("cross", "torch.linalg.cross(*torch.broadcast_tensors(x, y))", "(3),(3)", "linalg", params="x, y"),
    _e("vecdot", "torch.linalg.vecdot(x, y)", "(n),(n)", "linalg", params="x, y"),
    _e("kron", "torch.kron(x, y)", "(a,b),(c,d)", "linalg", params="x, y",
       inputs_kw={"max_batch_dims": 0, "layouts": ("contiguous",)},
       note="contiguous inputs only: see kron_transposed"),
    _e("kron_transposed", "torch.kron(x, y)", "(a,b),(c,d)", "linalg", params="x, y",
       inputs_kw={"max_batch_dims": 0, "layouts": ("permuted",)}, nonempty=True,
       known=dict.fromkeys(_ALL_PROPERTIES, TORCH_KRON_STRIDE0), note="forward raises: every property fails"),
]

_NN2 = {"max_batch_dims": 0}
NN = [
    _e("softmax", "F.softmax(x, dim={d} % x.ndim)", "(n)", "nn", args={"d": DIMS}),
    _e("log_softmax", "F.log_softmax(x, dim={d} % x.ndim)", "(n)", "nn", args={"d": DIMS}),
    _e("layer_norm", "F.layer_norm(x, x.shape[-1:])", "(n)", "nn", nonempty=True),
    _e("layer_norm_affine", "F.layer_norm(x, x.shape[-1:], w, b)", "(a,n),(n),(n)", "nn",
       params="x, w, b", inputs_kw=_NN2, nonempty=True,
       known={"low_precision/float16": TORCH_LAYER_NORM_HALF_SUMS,
              "low_precision/bfloat16": TORCH_LAYER_NORM_HALF_SUMS}),
    _e("linear", "F.linear(x, w, b)", "(n),(k,n),(k)", "nn", params="x, w, b", inputs_kw=_NN2,
       known={"low_precision/bfloat16": TORCH_BF16_MATMUL_READS_PADDING}),
    _e("bilinear", "F.bilinear(x, y, w)", "(b,m),(b,n),(o,m,n)", "nn", params="x, y, w", inputs_kw=_NN2,
       nonempty=True, note="F.bilinear cannot reshape 0 elements",
       known={"low_precision/float16": TORCH_BILINEAR_HALF_SUMS, "low_precision/bfloat16": TORCH_BILINEAR_HALF_SUMS}),
    _e("conv1d", "F.conv1d(x, w, padding=w.shape[-1] - 1, stride={s})", "(b,c,l),(o,c,k)", "nn",
       params="x, w", args={"s": st.integers(1, 2)}, inputs_kw={"max_batch_dims": 0, "max_side": 4},
       nonempty=True, note="padding k-1: any length works",
       known={f"{p}/bfloat16": TORCH_BF16_CONV_UNINITIALISED for p in _ALL_PROPERTIES}),
    _e("conv2d", "F.conv2d(x, w, padding=(w.shape[-2] - 1, w.shape[-1] - 1), stride={s})",
       "(b,c,h,v),(o,c,k,q)", "nn", params="x, w", args={"s": st.integers(1, 2)},
       inputs_kw={"max_batch_dims": 0, "max_side": 3}, nonempty=True,
       known={f"{p}/bfloat16": TORCH_BF16_CONV_UNINITIALISED for p in _ALL_PROPERTIES}),
    _e("mse_loss", "F.mse_loss(*torch.broadcast_tensors(x, y), reduction={r})", "(),()", "nn",
       params="x, y", args={"r": st.sampled_from(["mean", "sum", "none"])}, nonempty=True),
    _e("cross_entropy", "F.cross_entropy(x, torch.tensor({t}).repeat(x.shape[0])[:x.shape[0]] % x.shape[1])",
       "(b,c)", "nn", args={"t": INDEX_LIST}, inputs_kw=_NN2, nonempty=True,
       note="class targets fixed: the drawn list modulo the class count"),
    _e("cross_entropy_soft", "F.cross_entropy(x, F.softmax(y, dim=-1))", "(b,c),(b,c)", "nn",
       params="x, y", inputs_kw=_NN2, nonempty=True),
    _e("nll_loss", "F.nll_loss(F.log_softmax(x, -1), torch.tensor({t}).repeat(x.shape[0])[:x.shape[0]] "
       "% x.shape[1])", "(b,c)", "nn", args={"t": INDEX_LIST}, inputs_kw=_NN2, nonempty=True),
    _e("kl_div", "F.kl_div(F.log_softmax(x, -1), F.softmax(y, -1), reduction='batchmean')", "(b,c),(b,c)",
       "nn", params="x, y", inputs_kw={"low": (None, -5.0), "high": (None, 5.0), "max_batch_dims": 0},
       nonempty=True, note="|y| ≤ 5: a target probability that underflows to 0 has an inf·0 = NaN grad"),
    _e("binary_cross_entropy", "F.binary_cross_entropy(x, torch.sigmoid(y))", "(n),(n)", "nn",
       params="x, y", inputs_kw={"low": (0.05, None), "high": (0.95, None), "max_batch_dims": 0},
       nonempty=True),
    _e("bce_with_logits", "F.binary_cross_entropy_with_logits(x, torch.sigmoid(y))", "(n),(n)", "nn",
       params="x, y", inputs_kw=_NN2, nonempty=True),
    _e("cosine_similarity", "F.cosine_similarity(x, y, dim=-1)", "(n),(n)", "nn", params="x, y",
       inputs_kw={"low": 0.1, "high": 10.0}, nonempty=True, note="positive: norms away from 0"),
    _e("normalize", "F.normalize(x, dim=-1)", "(n)", "nn", inputs_kw={"low": 0.1, "high": 10.0},
       nonempty=True),
    _e("embedding", "F.embedding(torch.tensor({i}) % w.shape[0], w)", "(v,d)", "nn", params="w",
       args={"i": INDEX_LIST}, inputs_kw=_NN2, nonempty=True, note="ids fixed: the drawn list mod vocab"),
    _e("avg_pool1d", "F.avg_pool1d(x, 2, padding=1)", "(b,c,l)", "nn", inputs_kw=_NN2, nonempty=True,
       note="zero channels is not a valid pooling input"),
    _e("glu", "F.glu(x, dim=-1)", "(2)", "nn"),
    _e("group_norm", "F.group_norm(x, 1)", "(b,2,l)", "nn", inputs_kw=_NN2, nonempty=True),
    _e("sdpa", "F.scaled_dot_product_attention(q, k, v)", "(l,e),(s,e),(s,f)", "nn", params="q, k, v",
       inputs_kw=_NN2, nonempty=True),
    _e("interpolate_linear", "F.interpolate(x, scale_factor=2, mode='linear')", "(b,c,l)", "nn",
       inputs_kw=_NN2, nonempty=True),
]

ENTRIES: dict[str, Entry] = {e.name: e for e in (*UNARY, *BINARY, *REDUCTION, *SHAPE, *LINALG, *NN)}
