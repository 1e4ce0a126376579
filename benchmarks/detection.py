"""Detection measured: how often a default ``gradprops.check`` catches a backward wrong by a given
relative error in one dtype only — the bug of a fast kernel's float16/bfloat16 path.

    python benchmarks/detection.py                                # sin and SiLU, bfloat16 and float16, 1-10% off
    python benchmarks/detection.py --functions silu --dtypes bfloat16 --errors 0.03,0.05 --seeds 0-19

Each function is a custom ``torch.autograd.Function`` whose backward is right in float64 and
multiplied by ``1 + error`` in the dtype under test (error 0: the correct Function, so the row says
whether gradprops stays quiet). One check per seed, on a 0-d input of that dtype
(``gst.inputs("()", dtype=...)``), with the default property set and budget. Prints, per function,
dtype and error, how many seeds caught it and by which property. ``low_precision`` can only catch
an error beyond what rounding in the dtype explains for that formula (twice a correct
computation's own error, FlashAttention's criterion), so the threshold depends on the formula:
that is what the table shows.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from collections.abc import Callable, Sequence

import torch

import gradprops
from gradprops import strategies as gst

NARROW = (torch.float16, torch.bfloat16)


Unary = Callable[[torch.Tensor], torch.Tensor]


def planted(name: str, derivative: Unary, forward: Unary, dtype: torch.dtype,
            error: float) -> type[torch.autograd.Function]:
    """A Function computing ``forward``, whose backward is ``derivative`` times ``1 + error`` in ``dtype``."""

    class Planted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return forward(x)

        @staticmethod
        def backward(ctx, g: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            d = derivative(x)
            return g * (d * (1 + error) if x.dtype == dtype else d)

    Planted.__name__ = Planted.__qualname__ = f"{name}_{str(dtype).removeprefix('torch.')}_{error:g}"
    return Planted


def _silu_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


FUNCTIONS: dict[str, tuple[Unary, Unary]] = {
    "sin": (torch.sin, torch.cos),  # one rounded op in backward
    "silu": (lambda x: x * torch.sigmoid(x), _silu_derivative),  # five
}


def caught(function: str, dtype: torch.dtype, error: float, seed: int) -> str | None:
    """The property that caught the planted Function at ``seed``, or ``None``."""
    forward, derivative = FUNCTIONS[function]
    fn = planted(function, derivative, forward, dtype, error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gradprops.NotChecked)
            gradprops.check(fn.apply, gst.inputs("()", dtype=dtype), seed=seed)
    except gradprops.PropertyFailure as failure:
        return failure.property
    return None


def run(functions: Sequence[str], dtypes: Sequence[torch.dtype], errors: Sequence[float],
        seeds: Sequence[int]) -> list[dict[str, object]]:
    """One row per function × dtype × error: seeds run, seeds caught, by which property.

    >>> [r["caught"] for r in run(["sin"], [torch.bfloat16], [0.2], [0])]
    [1]
    """
    rows = []
    for function in functions:
        for dtype in dtypes:
            for error in errors:
                by = collections.Counter(caught(function, dtype, error, s) for s in seeds)
                hits = sum(n for p, n in by.items() if p is not None)
                rows.append({"function": function, "dtype": str(dtype).removeprefix("torch."), "error": error,
                             "seeds": len(seeds), "caught": hits,
                             "by": {p: n for p, n in by.items() if p is not None}})
    return rows


def render(rows: Sequence[dict[str, object]]) -> str:
    lines = ["| function | dtype | error | caught | by |", "|---|---|---:|---:|---|"]
    for r in rows:
        by = ", ".join(f"{p} {n}" for p, n in r["by"].items()) or "—"  # type: ignore[union-attr]
        note = " (correct: a catch is a false alarm)" if r["error"] == 0 else ""
        lines.append(f"| {r['function']} | {r['dtype']} | {100 * r['error']:g}%{note} | "  # type: ignore[operator]
                     f"{r['caught']} of {r['seeds']} | {by} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", default="sin,silu", help=f"comma-separated, of {', '.join(FUNCTIONS)}")
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--errors", default="0,0.01,0.03,0.05,0.1", help="relative errors, comma-separated")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 (inclusive)")
    args = parser.parse_args(argv)
    functions = [f.strip() for f in args.functions.split(",")]
    unknown = [f for f in functions if f not in FUNCTIONS]
    dtypes = [getattr(torch, d.strip(), None) for d in args.dtypes.split(",")]
    if unknown or any(d not in NARROW for d in dtypes):
        raise SystemExit(f"detection: --functions of {sorted(FUNCTIONS)}, --dtypes of float16, bfloat16")
    low, _, high = args.seeds.partition("-")
    seeds = list(range(int(low), int(high or low) + 1))
    errors = [float(e) for e in args.errors.split(",")]
    torch.set_num_threads(1)
    started = time.perf_counter()
    print(render(run(functions, dtypes, errors, seeds)))
    print(f"\n({len(functions) * len(dtypes) * len(errors) * len(seeds)} checks in "
          f"{time.perf_counter() - started:.0f} s; torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
