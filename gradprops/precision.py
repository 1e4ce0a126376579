"""Simulated low-precision arithmetic: how much error a *correct* computation makes in a dtype.

A float16 backward that is 3% off and one that is right but rounds are told apart by asking how
far the same computation lands from float64 when every step rounds to float16. That is the
reference error FlashAttention's tests bound a kernel by (its error against float32 may be at most
twice the plain PyTorch composite's in the same dtype); here the composite is the function's own
float64 path, replayed under :class:`SimulatedPrecision`:

* every aten op runs in float64 and its result is rounded to the target dtype, as a kernel that
  computes in a wider type internally and stores in the narrow one (PyTorch's CPU float16/bfloat16
  kernels do exactly that);
* every floating input of an op is first moved by a random relative amount of up to one unit
  roundoff of the type the kernel computes in (float32 for float16/bfloat16/float32, float64
  for float64): Monte Carlo arithmetic. An input that is itself a rounded result (stored in the
  narrow dtype) moves by up to a roundoff of that dtype, each element on its own and all of them
  together by one common relative amount: another correct kernel computes and rounds it otherwise,
  equal values round alike, and where they feed a sum that cancels (kl_div along a constant row)
  their common error adds up instead of averaging out. A fused op rounds inside — layer_norm's mean and
  variance, softmax's sums — and where it cancels terms, as layer_norm does under its 1/√eps,
  this is how that rounding shows. A float16/bfloat16 normalisation kernel keeps its steps in
  float32 and rounds only its outputs to the dtype (``_STEPS_IN_FLOAT32``): rounded to float16,
  layer_norm's x − mean of a constant row flushed its float32-sized error to 0 where torch's kernel
  returns -4e-7;
* a k-term accumulation (matrix product, convolution, softmax, cumulative op, sum, norm, var) also
  moves each of its terms by up to k unit roundoffs, independently, and its result by one common
  relative error of up to k·u/4 (log₂k·u for ``sum`` and ``mean``, which torch adds up in blocks):
  rounding errors that do not average out. Measured by ``benchmarks/accumulation_error.py``:
  torch's float32 ``vector_norm`` and matrix products add k identical terms (a stride-0 input)
  with an error of up to 0.21·k·u·Σ|terms|, its blocked ``sum`` within 8·u·Σ|terms|; Higham's bound
  for any order is (k-1)·u·Σ|terms|. float16/bfloat16 kernels accumulate in float32, so their
  common error is float32's;
* a product reduction whose terms could pass the dtype's range in some partial product is NaN
  there: a correct kernel may overflow on the way although the product fits.

Narrow tensors (a float32 comparison's own operands) are simulated in place: each op computes on
float64 copies and hands its results back in the dtype it would have returned.

Views pass through untouched.

>>> x = torch.tensor([1.0, 3.0], dtype=torch.float64, requires_grad=True)
>>> with SimulatedPrecision(torch.float16, torch.Generator().manual_seed(0)):
...     y = x / 3
>>> y.tolist() == (x / 3).to(torch.float16).tolist()  # each result is rounded to float16
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch._decomp import decomposition_table
from torch.utils._pytree import tree_flatten, tree_map, tree_map_only
from torch.utils.weak import WeakIdKeyDictionary

from gradprops.dispatch_mode import DispatchMode
from gradprops.strided import real_dtype, wide_dtype

__all__ = ["LargestIntermediate", "Narrowing", "SimulatedPrecision", "unit_roundoff"]


def unit_roundoff(dtype: torch.dtype) -> float:
    """Half the distance from 1 to the next representable number: the relative error of one rounding.

    >>> unit_roundoff(torch.bfloat16)
    0.00390625
    """
    return float(torch.finfo(dtype).eps) / 2


class SimulatedPrecision(DispatchMode):
    """Run float64 computations as if each op stored its result in ``dtype`` (see the module).

    Deterministic given ``generator``. Complex results are rounded part by part. With
    ``stochastic_rounding``, each result of a narrower dtype rounds to either neighbour (an error of
    up to one spacing, not half): where rounding is systematic — terms that all land on float16's
    subnormal grid, which one-roundoff input moves never change — that is the size of its noise.
    """

    def __init__(self, dtype: torch.dtype, generator: torch.Generator, *, stochastic_rounding: bool = False) -> None:
        super().__init__()
        self.dtype = dtype
        self.stochastic_rounding = stochastic_rounding
        self.roundoff = unit_roundoff(_COMPUTED_IN.get(dtype, dtype))
        self.stored_roundoff = unit_roundoff(dtype)
        self.generator = generator
        self._stored: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._inside_fused = 0  # depth of decompositions being stepped through
        self._constants_stored = 0  # depth of decompositions of kernels that hold their constants in ``dtype``
        self._wide_steps = 0  # depth of decompositions of kernels that keep their steps in float32

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.is_view or func.overloadpacket in _EXACT:
            return func(*args, **kwargs)
        if self._constants_stored and self.dtype not in (torch.float64, torch.complex128):
            args, kwargs = tree_map_only(float, self._stored_constant, (args, kwargs))
        decomposed = _DECOMPOSITIONS.get(func)
        if decomposed is not None:
            self._inside_fused += 1
            stores_constants = func.overloadpacket in _CONSTANTS_IN_DTYPE
            self._constants_stored += stores_constants
            wide_steps = self.dtype in _COMPUTED_IN and func.overloadpacket in _STEPS_IN_FLOAT32
            self._wide_steps += wide_steps
            try:
                with self:  # each step of a fused op rounds, as it does inside the real kernel
                    result = decomposed(*args, **kwargs)
            finally:
                self._inside_fused -= 1
                self._constants_stored -= stores_constants
                self._wide_steps -= wide_steps
            if result is not NotImplemented:
                if wide_steps and not self._wide_steps:
                    # its steps rounded to the type it computes in; its outputs are stored in the dtype
                    result = tree_map_only(Tensor, lambda t: self._round(t.clone()) if _wide(t) else t, result)
                return result
        if func._schema.is_mutable:
            return func(*args, **kwargs)
        back = _narrow_result_dtype(args, kwargs)
        if back is not None:  # narrow tensors: computed in float64 here, handed back in their own dtype
            args, kwargs = tree_map(self._widen, (args, kwargs))
            if isinstance(kwargs.get("dtype"), torch.dtype):
                kwargs = {**kwargs, "dtype": wide_dtype(kwargs["dtype"])}
        terms = _accumulated_terms(func, args)
        independent = terms if self.dtype not in _COMPUTED_IN else 1  # float16/bfloat16: summed in float32
        args, kwargs = tree_map(lambda t: self._jitter(t, independent), (args, kwargs))
        result = func(*args, **kwargs)
        if terms > 1:
            result = self._systematic(func, result, terms)
        if self.dtype not in (torch.float64, torch.complex128):
            if func.overloadpacket in (_aten.prod, _prims.prod, _aten.cumprod):
                result = _overflowing_products(func, args, result, self.dtype)
            result = tree_map_only(Tensor, self._round, result)
        return result if back is None else tree_map_only(Tensor, lambda t: self._narrowed(t, back), result)

    def _systematic(self, func: Any, result: Any, terms: int) -> Any:
        """``result`` of a ``terms``-term accumulation moved by one common relative error of up to
        ``terms·u/4`` (``log₂(terms)·u`` for torch's blocked sums): the part of its rounding that
        does not average out (see the module)."""
        blocked = func.overloadpacket in _BLOCKED_SUMS and not self._inside_fused  # a fused kernel's own loop
        reach = math.log2(terms) if blocked else terms / 4
        shift = (2 * float(torch.rand((), generator=self.generator, dtype=torch.float64)) - 1) * reach * self.roundoff
        in_logs = func.overloadpacket in _LOG_DOMAIN  # an error ε of the sum is an error ε of its log

        def moved(t: Tensor) -> Tensor:
            if not _wide(t) or not t.numel():
                return t
            return t + shift if in_logs else t * (1 + shift)

        return tree_map_only(Tensor, moved, result)

    def _stored_constant(self, value: float) -> float:
        """A Python constant of a kernel that holds it in ``dtype`` (:data:`_CONSTANTS_IN_DTYPE`), as
        that kernel holds it; one that does not fit the dtype's range stays as it is."""
        stored = torch.tensor(value, dtype=torch.float64).to(self.dtype).item()
        return stored if math.isfinite(stored) else value

    def _widen(self, t: Any) -> Any:
        if not isinstance(t, Tensor) or _wide(t) or not (t.is_floating_point() or t.is_complex()):
            return t
        wide = t.to(wide_dtype(t.dtype))
        if t in self._stored:
            self._stored[wide] = True
        return wide

    def _narrowed(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        if not _wide(t):
            return t
        narrow = t.to(_COMPLEX.get(dtype, dtype) if t.is_complex() else dtype)
        self._stored[narrow] = True
        return narrow

    def _jitter(self, t: Any, scale: float = 1.0) -> Any:
        if not isinstance(t, Tensor) or not t.numel() or not _wide(t):
            return t
        stored = t in self._stored
        noise = torch.rand(t.shape, generator=self.generator, dtype=torch.float64).to(t.device).mul_(2).sub_(1)
        noise.mul_(scale * (self.stored_roundoff if stored else self.roundoff))
        if stored and not self.stochastic_rounding:
            # A result another correct kernel computes, and rounds, otherwise: equal values round alike,
            # so where they feed a sum that cancels their common error adds up. One relative move of up
            # to a roundoff of the stored dtype, common to the whole tensor, stands for that.
            noise.add_((2 * float(torch.rand((), generator=self.generator, dtype=torch.float64)) - 1)
                       * self.stored_roundoff)
        return t * noise.add_(1)

    def _round(self, t: Tensor) -> Tensor:
        """``t`` rounded in place to the dtype; to float32 inside a normalisation kernel of
        float16/bfloat16 (:data:`_STEPS_IN_FLOAT32`), which keeps its steps there."""
        dtype = _COMPUTED_IN[self.dtype] if self._wide_steps else self.dtype
        if _wide(t) and t.numel():
            narrow = dtype if not t.is_complex() else _COMPLEX.get(dtype)
            if self.stochastic_rounding and not t.is_complex() and dtype not in (torch.float64, torch.complex128):
                t.add_(self._half_spacings(t, dtype))  # then to nearest: either neighbour, up to one spacing off
            if narrow is not None:
                t.copy_(t.to(narrow))
            else:  # complex32 has too few ops on the CPU: round the parts
                parts = torch.view_as_real(t)
                parts.copy_(parts.to(dtype))
        if not self._wide_steps:  # a step inside such a kernel is not stored in the dtype
            self._stored[t] = True
        return t

    def _half_spacings(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        """Uniform noise of up to half ``dtype``'s spacing at each value of ``t``, subnormals included."""
        info = torch.finfo(dtype)
        magnitude = t.abs().clamp_min(info.tiny)
        spacing = torch.exp2(torch.floor(torch.log2(magnitude))) * info.eps
        noise = torch.rand(t.shape, generator=self.generator, dtype=t.dtype).to(t.device).sub_(0.5)
        return noise.mul_(spacing).nan_to_num_(0.0)


class Narrowing(DispatchMode):
    """Record the ops that turn float64 (complex128) values into a narrower dtype while active;
    with ``keep_float64=True``, run those conversions (``.float()``, ``.half()``, ``.to(float32)``)
    as float64 copies instead, so the computation runs as written but without its narrower steps.

    A float64 function that computes a step in float32 carries float32's rounding (6e-8 relative)
    from then on: a precision loss, which float64's tolerances would take for a wrong formula.

    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> with Narrowing() as watch:
    ...     y = (x.float() / 3).double()
    >>> watch.steps
    {'aten._to_copy: torch.float64 -> torch.float32': 1}
    >>> with Narrowing(keep_float64=True):
    ...     z = (x.float() / 3).double()
    >>> bool((z == x / 3).all()), bool((y == x / 3).all())
    (True, False)
    """

    def __init__(self, *, keep_float64: bool = False) -> None:
        super().__init__()
        self.keep_float64 = keep_float64
        self.steps: dict[str, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if not any(isinstance(t, Tensor) and _wide(t) for t in (*args, *kwargs.values())):
            return func(*args, **kwargs)
        to = kwargs.get("dtype")
        if (self.keep_float64 and func.overloadpacket is _aten._to_copy and isinstance(to, torch.dtype)
                and (to.is_floating_point or to.is_complex) and to not in (torch.float64, torch.complex128)):
            self._record(func, to)
            return func(*args, **{**kwargs, "dtype": torch.complex128 if to.is_complex else torch.float64})
        result = func(*args, **kwargs)
        for dtype in sorted({t.dtype for t in _tensors(result) if (t.is_floating_point() or t.is_complex())
                             and not _wide(t)}, key=str):
            self._record(func, dtype)
        return result

    def _record(self, func: Any, dtype: torch.dtype) -> None:
        step = f"aten.{func.overloadpacket.__name__}: torch.float64 -> {dtype}"
        self.steps[step] = self.steps.get(step, 0) + 1


class LargestIntermediate(DispatchMode):
    """Record the largest finite magnitude any floating op result reaches while active.

    A value computed through an intermediate of size M can be off by u·M however small it is
    itself (absorption: 661 + 1e-280 rounds to 661), so that, not the value, bounds its rounding.

    >>> x = torch.tensor([661.0, 17.0], dtype=torch.float64)
    >>> with LargestIntermediate() as watch:
    ...     y = torch.log_softmax(x, 0)
    >>> watch.largest
    644.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0.0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        for t in _tensors(result):
            if (t.is_floating_point() or t.is_complex()) and t.numel() and not t.is_meta:
                m = t.detach().abs()
                m = m[m.isfinite()] if not bool(m.isfinite().all()) else m
                if m.numel():
                    self.largest = max(self.largest, float(m.max()))
        return result


def _tensors(result: Any) -> list[Tensor]:
    return [result] if isinstance(result, Tensor) else [t for t in result if isinstance(t, Tensor)] if isinstance(
        result, (tuple, list)) else []


def _accumulated_terms(func: Any, args: Sequence[Any]) -> int:
    """How many terms each result of an op adds up, for a kernel that accumulates in the dtype
    itself (float32, float64): a matrix product's inner size, a convolution's taps per output, a
    softmax's or cumulative op's dim, a reduction's reduced elements (sum, mean, norms, var,
    logsumexp), ``F.bilinear``'s summed dims, a factorization's or triangular solve's matrix size;
    1 for everything else.

    >>> x = torch.zeros(4, 5, dtype=torch.float64)
    >>> aten = torch.ops.aten
    >>> _accumulated_terms(aten.sum.dim_IntList, (x, [1])), _accumulated_terms(aten.sum.default, (x,))
    (5, 20)
    """
    packet = func.overloadpacket
    first = args[0] if args and isinstance(args[0], Tensor) else None
    if packet in (_aten.mm, _aten.bmm, _aten.mv) and first is not None and first.dim():
        return int(first.shape[-1])
    if packet in (_aten.addmm, _aten.baddbmm, _aten.addmv) and len(args) > 1 and isinstance(args[1], Tensor):
        return int(args[1].shape[-1]) if args[1].dim() else 1
    if packet is _aten.dot and first is not None:
        return max(first.numel(), 1)
    if packet in _CONVOLUTIONS and len(args) > 1 and isinstance(args[1], Tensor) and args[1].dim() > 1:
        weight = args[1]
        return max(weight.numel() // max(weight.shape[0], 1), 1)
    if packet is _aten.convolution_backward and len(args) > 2 and isinstance(args[2], Tensor) and first is not None:
        # grad_weight sums over the batch and positions, grad_input over output channels and taps
        per_weight = first.numel() // max(int(first.shape[1]), 1) if first.dim() > 1 else 1
        per_input = args[2].numel() // max(int(args[2].shape[1]), 1) if args[2].dim() > 1 else 1
        return max(per_weight, per_input, 1)
    if packet in _MATRIX_ALGORITHMS and first is not None and first.dim() >= 2:
        return max(int(first.shape[-1]), 1)
    if packet is _aten._trilinear and len(args) > 6:  # F.bilinear: three operands expanded, summed over sumdim
        return _trilinear_terms(args)
    if packet in _ALONG_DIM and first is not None and first.dim():
        dim = next((a for a in args[1:] if isinstance(a, int) and not isinstance(a, bool)), None)
        return max(int(first.shape[dim]), 1) if dim is not None and -first.dim() <= dim < first.dim() else 1
    if packet in _REDUCTIONS and first is not None:
        where = 2 if packet in (_aten.linalg_vector_norm, _aten.norm) else 1
        dims = args[where] if len(args) > where else None
        if dims is None or (isinstance(dims, (list, tuple)) and not dims):
            return max(first.numel(), 1)
        dims = [dims] if isinstance(dims, int) else list(dims)
        if not first.dim() or not all(isinstance(d, int) for d in dims):
            return 1
        return max(math.prod(int(first.shape[d]) for d in dims), 1)
    return 1


def _trilinear_terms(args: Sequence[Any]) -> int:
    """Terms per result of ``aten._trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, ...)``:
    the product of the broadcast sizes of the summed dims, each operand unsqueezed at its expand dims."""
    operands, expands, summed = args[:3], args[3:6], args[6]
    if not all(isinstance(t, Tensor) for t in operands):
        return 1
    shapes = []
    for t, expand in zip(operands, expands):
        shape = list(t.shape)
        for d in sorted(expand):
            shape.insert(d, 1)
        shapes.append(shape)
    try:
        full = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        return 1
    return max(math.prod(int(full[d]) for d in summed if -len(full) <= d < len(full)), 1)


_aten = torch.ops.aten
_CONVOLUTIONS = {_aten.convolution}
#: Ops that accumulate along one dim, given as their first int argument.
_ALONG_DIM = {_aten._softmax, _aten._log_softmax, _aten._softmax_backward_data, _aten._log_softmax_backward_data,
              _aten.cumsum, _aten.cumprod, _aten.logcumsumexp}
#: Reductions torch sums in blocks (cascade summation), whose error grows like log₂ of their terms.
_BLOCKED_SUMS = {_aten.sum, _aten.mean, _aten.nansum}
#: Factorizations and substitutions (LAPACK): their inner products run over the matrix size n.
_MATRIX_ALGORITHMS = {getattr(_aten, name) for name in (
    "linalg_solve_triangular", "triangular_solve", "linalg_lu_factor_ex", "linalg_lu_solve", "linalg_cholesky_ex",
    "cholesky_solve", "cholesky_inverse", "linalg_inv_ex", "_linalg_solve_ex", "_linalg_det", "_linalg_slogdet",
    "_linalg_eigh", "linalg_qr", "_linalg_svd", "linalg_householder_product") if hasattr(_aten, name)}
#: Accumulations whose result is the log of the sum they accumulate.
_LOG_DOMAIN = {_aten._log_softmax, _aten.logcumsumexp, _aten.logsumexp}
#: Reductions over ``dim`` (all dims when it is None or empty).
#: (Fused ops are stepped through their decompositions, which reduce with ``prims.sum``: mv does.)
_prims = torch.ops.prims
_REDUCTIONS = {_aten.sum, _aten.mean, _aten.nansum, _aten.prod, _aten.linalg_vector_norm, _aten.norm, _aten.var,
               _aten.std, _aten.var_mean, _aten.std_mean, _aten.logsumexp, _prims.sum, _prims.prod, _prims.var}
#: Ops that move or compare values without arithmetic: nothing to round, and a copy must stay equal
#: to what it copied (gradprops' own guards compare a seed with a copy of it).
_EXACT = {
    _aten.clone, _aten.copy_, _aten._to_copy, _aten.detach, _aten.alias, _aten.lift_fresh, _aten.lift_fresh_copy,
    _aten.equal, _aten.eq, _aten.ne, _aten.lt, _aten.le, _aten.gt, _aten.ge, _aten.isnan, _aten.isinf,
    _aten.isfinite, _aten.isclose, _aten.sign, _aten.argmax, _aten.argmin, _aten.argsort, _aten.nonzero,
    _aten.empty_like, _aten.zeros_like, _aten.ones_like, _aten.full_like, _aten.as_strided, _aten.abs,
    _aten.neg, _aten.aminmax, _aten.max, _aten.min, _aten.amax, _aten.amin, _aten.masked_select,
    _aten.index, _aten.gather, _aten.index_select, _aten.cat, _aten.stack, _aten.where,
}

#: Fused ops whose steps the simulation rounds one by one (layer_norm's x - mean, gelu's 1 + erf).
#: Not stepped through: torch's sums (blocked, see _BLOCKED_SUMS), and cumsum/cumprod, whose
#: decomposition masks an (n, n) copy of every row (a float32 cumprod along 2,048 elements of a
#: thousand rows took 20 GB); they are counted as accumulations along their dim instead.
_NOT_STEPPED = _BLOCKED_SUMS | {_aten.cumsum, _aten.cumprod}
_DECOMPOSITIONS = {op: fn for op, fn in decomposition_table.items()
                   if op.name().startswith("aten::") and getattr(op, "overloadpacket", None) not in _NOT_STEPPED}

#: Fused kernels that convert their constants to the tensors' dtype before computing with them
#: (``scalar_t norm_val = norm.to<scalar_t>()``): mse_loss's and huber_loss's backward hold
#: 2/N and 1/N in float16, a subnormal with up to 0.2% error once N > 32,768, which every term
#: then carries alike. Measured: with N = 99,999 torch's float16 grads are 1.35e-3 (2.8 u) off.
_CONSTANTS_IN_DTYPE = {_aten.mse_loss_backward, _aten.huber_loss_backward}

#: float16/bfloat16 normalisation kernels, which keep their steps in float32 and store only their
#: outputs in the dtype: a step rounded to float16 instead flushed layer_norm's x - mean of a
#: constant row, float32-sized (the kernel returns -4e-7 there), to 0. Other fused ops keep
#: rounding each step to the dtype, which their kernels' error needs: in float32, log_softmax's
#: backward was allowed 9.8e-5 where torch's float16 kernel is 1.0e-4 off (float16 seed 9), and
#: atan2's and pow's steps are what linearity through float16's subnormal terms needs
#: (tests/test_error_model.py).
_STEPS_IN_FLOAT32 = {
    _aten.native_layer_norm, _aten.native_layer_norm_backward, _aten.native_group_norm,
    _aten.native_group_norm_backward, _aten.native_batch_norm, _aten.native_batch_norm_backward,
    _aten._native_batch_norm_legit, _aten._native_batch_norm_legit_no_training, _aten._fused_rms_norm,
    _aten._fused_rms_norm_backward,
}

#: The type CPU kernels compute a dtype in (PyTorch's "opmath" type).
_COMPUTED_IN = {torch.float16: torch.float32, torch.bfloat16: torch.float32}
_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _overflowing_products(func: Any, args: Sequence[Any], result: Any, dtype: torch.dtype) -> Any:
    """``result`` of a product reduction or scan, NaN where some order of multiplying its terms passes
    ``dtype``'s range on the way: a correct kernel may overflow in a partial product (then inf, or
    NaN once a zero follows) although the product itself fits, and which order it takes is its own.
    A scan's running product stays inf once it overflowed, however small the later products are.

    >>> x = torch.tensor([[1e30, 1e30, 1e-30], [2.0, 3.0, 4.0]], dtype=torch.float64)
    >>> _overflowing_products(_aten.prod.dim_int, (x, 1), x.prod(1), torch.float32).tolist()
    [nan, 24.0]
    >>> _overflowing_products(_aten.cumprod.default, (x, 1), x.cumprod(1), torch.float32)[0].tolist()
    [1e+30, nan, nan]
    """
    x = args[0] if args else None
    if not isinstance(x, Tensor) or not isinstance(result, Tensor) or not x.is_floating_point() or not x.numel():
        return result
    largest = x.detach().abs().clamp_min(1).log()  # the largest partial product any order can reach
    dims = args[1] if len(args) > 1 else None
    if func.overloadpacket is _aten.cumprod:
        largest = largest.cumsum(dim=int(dims)) if x.dim() and dims is not None else largest
    else:
        dims = [dims] if isinstance(dims, int) else list(dims) if isinstance(dims, (list, tuple)) and dims else None
        largest = largest.sum() if dims is None else largest.sum(dim=dims, keepdim=result.dim() == x.dim())
    could = largest > math.log(float(torch.finfo(dtype).max))
    if not bool(could.any()):
        return result
    return torch.where(could.reshape(result.shape), torch.full((), math.nan, dtype=result.dtype), result)


def _narrow_result_dtype(args: Any, kwargs: dict[str, Any]) -> torch.dtype | None:
    """The real dtype an op's floating results have natively when its floating tensor inputs are
    all narrower than float64 (the widest of them, or an explicit ``dtype=``); ``None`` otherwise."""
    floating = [t for t in tree_flatten((args, kwargs))[0]
                if isinstance(t, Tensor) and (t.is_floating_point() or t.is_complex())]
    if not floating or any(_wide(t) for t in floating):
        return None
    explicit = kwargs.get("dtype")
    if isinstance(explicit, torch.dtype) and (explicit.is_floating_point or explicit.is_complex):
        return None if explicit in (torch.float64, torch.complex128) else real_dtype(explicit)
    return max((real_dtype(t.dtype) for t in floating), key=lambda d: torch.finfo(d).bits)


def _wide(t: Tensor) -> bool:
    return t.dtype in (torch.float64, torch.complex128)
