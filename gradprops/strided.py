"""Facts about strided tensors and their dtypes, in one place: a tensor's storage span, whether it
repeats (a stride-0 dim), a fresh leaf that keeps its memory layout, and the wide and real dtypes.

>>> t = torch.arange(6.0).reshape(2, 3).t()[1:]
>>> storage_span(t), repeats(t), fresh_leaf(t).stride() == t.stride()
(6, False, True)
"""

from __future__ import annotations

import torch
from torch import Tensor

_WIDE = {
    torch.float16: torch.float64, torch.bfloat16: torch.float64, torch.float32: torch.float64,
    torch.float64: torch.float64, torch.complex32: torch.complex128, torch.complex64: torch.complex128,
    torch.complex128: torch.complex128,
}
_REAL = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}


def storage_span(t: Tensor) -> int:
    """How many elements of its storage ``t`` reaches, from the storage's start (offset included)."""
    offset = int(t.storage_offset())
    if t.numel() == 0:
        return offset
    return offset + 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))


def repeats(t: Tensor) -> bool:
    """Whether ``t`` has a stride-0 dim of size > 1 (``expand``): one element stands for several."""
    return any(s == 0 and n > 1 for n, s in zip(t.shape, t.stride()))


def fresh_leaf(t: Tensor, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
    """A new leaf with ``t``'s values *and* memory layout (strides, offset into a larger buffer),
    converted to ``dtype`` and moved to ``device`` when given; ``requires_grad`` as ``t``'s.

    ``clone()`` would make strided slices contiguous, and the layout is part of what we test.
    """
    requires_grad = t.requires_grad
    t = t.detach()
    dtype = t.dtype if dtype is None else dtype
    device = t.device if device is None else device
    span = storage_span(t)
    buffer = (t.as_strided((span,), (1,), 0).to(dtype=dtype, device=device, copy=True) if span
              else torch.empty(0, dtype=dtype, device=device))
    return buffer.as_strided(t.shape, t.stride(), t.storage_offset()).requires_grad_(requires_grad)


def wide_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for real floating dtypes, complex128 for complex ones; other dtypes unchanged."""
    return _WIDE.get(dtype, dtype)


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a complex dtype's parts; real dtypes unchanged."""
    return _REAL.get(dtype, dtype)
