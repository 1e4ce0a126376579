"""Argument checks shared by the strategies: each raises :class:`ArgumentError` naming the argument.

Every public strategy validates all of its arguments when it is called, not when it is first drawn
from, so a mistake surfaces at the line that made it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

import torch
from hypothesis.errors import InvalidArgument

from gradprops.errors import UsageError

FLOATING = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
COMPLEX = (torch.complex128, torch.complex64)
INTEGER = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
SUPPORTED_DTYPES = (*FLOATING, *COMPLEX, *INTEGER, torch.bool)


class ArgumentError(InvalidArgument, UsageError):
    """A strategy was given an argument it cannot use; the message says what to pass instead.

    Both what Hypothesis raises for a strategy's bad argument and a :class:`gradprops.UsageError`,
    so either ``except`` catches it.

    >>> issubclass(ArgumentError, UsageError) and issubclass(ArgumentError, InvalidArgument)
    True
    """


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """``value`` as an int (bools refused), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{name} must be an integer, got {name}={value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{name} must be at least {minimum}, got {name}={value!r}: pass {name}={minimum} "
                            "or more")
    return value


def check_order(low_name: str, low: int, high_name: str, high: int) -> None:
    if low > high:
        raise ArgumentError(f"{low_name}={low!r} is larger than {high_name}={high!r}: pass {low_name} <= "
                            f"{high_name}, e.g. {low_name}={high!r}, {high_name}={low!r}")


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"{name} must be True or False, got {name}={value!r}")
    return value


def check_real(value: Any, name: str, *, allow_none: bool = True) -> float | None:
    """A finite real number (int or float, not bool), or None when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(f"{name} must be a real number{' or None' if allow_none else ''}, "
                              f"got {name}={value!r} ({type(value).__name__})")
    try:
        finite, shown = math.isfinite(value), repr(value)
    except OverflowError:  # an int too large for a float (and maybe for repr)
        finite, shown = False, f"an int of {int(value).bit_length()} bits"
    if not finite:
        raise ArgumentError(f"{name} must be finite, got {name}={shown}: pass a number between "
                            f"-{sys.float_info.max:.4g} and {sys.float_info.max:.4g}"
                            f"{', or None for no bound' if allow_none else ''}")
    return float(value)


def check_dtype(value: Any, name: str) -> torch.dtype:
    """A torch dtype to draw in, given as one or by the name the rest of gradprops reads
    (:mod:`gradprops.dtype_names`: ``float32``, ``torch.half``, ...).

    >>> check_dtype("half", "dtype"), check_dtype(torch.int64, "dtype")
    (torch.float16, torch.int64)
    """
    if isinstance(value, str):  # torch's own attributes hold the aliases (torch.half, torch.double)
        named = getattr(torch, value.strip().removeprefix("torch."), None)
        if not isinstance(named, torch.dtype):
            raise ArgumentError(f"{name}={value!r} names no torch dtype: pass e.g. torch.float32 or 'float32'")
        value = named
    if not isinstance(value, torch.dtype):
        raise ArgumentError(f"{name} must be a torch.dtype such as torch.float64 (or its name, 'float64'), "
                            f"got {name}={value!r}")
    if value not in SUPPORTED_DTYPES:
        supported = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise ArgumentError(f"{name}={value} is not supported; choose from {supported}")
    return value


def check_device(value: Any, name: str) -> torch.device:
    """A device tensors can be drawn on here: one that holds values (not meta) and is available.

    >>> check_device("cpu", "device")
    device(type='cpu')
    """
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ArgumentError(f"{name} must be a torch.device or a name such as 'cpu' or 'cuda:0', "
                            f"got {name}={value!r}") from None
    if device.type == "meta":
        raise ArgumentError(f"{name}='meta' holds no values to compare: draw on 'cpu' (or a GPU)")
    if device.type != "cpu":
        module = getattr(torch, device.type, None)
        available = getattr(module, "is_available", None)
        if not callable(available) or not available():
            raise ArgumentError(f"{name}={str(device)!r}: no {device.type} device is available here; "
                                "draw on 'cpu', or skip the test where it is missing")
        count = getattr(module, "device_count", None)
        if device.index is not None and callable(count) and device.index >= count():
            raise ArgumentError(f"{name}={str(device)!r}: only {count()} {device.type} device(s) here; "
                                f"pass an index below {count()}, e.g. {name}='{device.type}:0'")
    return device


def check_shape(value: Any, name: str) -> tuple[int, ...]:
    """A tuple (or torch.Size) of non-negative ints."""
    if not isinstance(value, tuple) or any(isinstance(n, bool) or not isinstance(n, int) for n in value):
        raise ArgumentError(
            f"{name} must be a tuple of non-negative integers (or a strategy of them), got {name}={value!r}"
        )
    if any(n < 0 for n in value):
        raise ArgumentError(f"{name} must not have negative sizes, got {name}={value!r}: pass sizes of 0 or "
                            "more, e.g. (2, 3)")
    return tuple(value)


def check_names(value: Any, name: str, known: Iterable[str]) -> tuple[str, ...]:
    """A non-empty collection of names from ``known``, returned in ``known``'s order."""
    known = tuple(known)
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ArgumentError(
            f"{name} must be a collection of names from {known}, got {name}={value!r}"
            + (f"; write {name}=({value!r},) for one" if isinstance(value, str) else "")
        )
    names = tuple(value)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ArgumentError(f"{name} has unknown names {unknown}: choose from {known}, got {name}={value!r}")
    if not names:
        raise ArgumentError(f"{name} is empty: name at least one of {known}")
    return tuple(k for k in known if k in names)
