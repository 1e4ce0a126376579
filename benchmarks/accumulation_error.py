"""How far torch's own float32 accumulations land from float64: the calibration of gradprops' error model.

A k-term sum in float32 errs by at most about k·u·Σ|terms| in any order (Higham's bound for
recursive summation, u = 2⁻²⁴); pairwise or blocked summation brings that to log₂k·u, and random
rounding errors that cancel to √k·u. Which one a torch kernel reaches depends on the op, the layout
(a stride-0 input is summed by other loops than a contiguous one) and the values (identical terms
round the same way at every step, so their errors add up instead of cancelling).

:class:`gradprops.precision.SimulatedPrecision` must cover what the real kernels do, so this
script measures it: for each op, layout, kind of values and k it prints the largest error (over a
few draws) in units of ``u·Σ|terms|`` next to k, √k and log₂k, and the same figure for the
simulation (largest of 3 simulated runs: what low_precision's allowance starts from before its
multiple of 8).

    python benchmarks/accumulation_error.py            # about a minute
    python benchmarks/accumulation_error.py --threads 2
"""

from __future__ import annotations

import argparse
import math
import platform

import torch

from gradprops.precision import SimulatedPrecision, unit_roundoff

U = unit_roundoff(torch.float32)


def values(kind: str, k: int, layout: str, gen: torch.Generator) -> torch.Tensor:
    """``2 × k`` float32 values (two rows, reduced along the last dim) of one kind in one layout."""
    if layout == "stride 0":
        row = torch.rand(2, 1, generator=gen) * 3 + 1
        return row.expand(2, k)
    if kind == "identical":
        base = (torch.rand(2, 1, generator=gen) * 3 + 1).expand(2, k).contiguous()
    elif kind == "positive":
        base = torch.rand(2, k, generator=gen) * 3 + 1
    else:
        base = torch.randn(2, k, generator=gen)
    return base.t().contiguous().t() if layout == "transposed" else base


OPS = {
    "sum": lambda t: t.sum(-1),
    "vector_norm": lambda t: torch.linalg.vector_norm(t, dim=-1),
    "mean": lambda t: t.mean(-1),
    "matmul": lambda t: t @ torch.ones(t.shape[-1], 1, dtype=t.dtype),
}

ABS_TERMS = {  # Σ|terms| of each result, in float64
    "sum": lambda t: t.abs().sum(-1),
    "vector_norm": lambda t: (t * t).sum(-1),  # the accumulated terms are the squares
    "mean": lambda t: t.abs().sum(-1) / t.shape[-1],
    "matmul": lambda t: t.abs().sum(-1, keepdim=True),
}


def error_in_units(op: str, x32: torch.Tensor, got: torch.Tensor) -> float:
    x64 = x32.double()
    exact = OPS[op](x64)
    err = (got.double() - exact).abs()
    if op == "vector_norm":  # error of the norm from an error e of the sum of squares: e / (2·norm)
        err = err * 2 * exact
    return float((err / (U * ABS_TERMS[op](x64))).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
          "errors in units of u·Σ|terms|, largest of the draws")
    print(f"{'op':<12} {'layout':<11} {'values':<10} {'k':>7} {'torch':>9} {'simulated':>9} "
          f"{'log2 k':>7} {'sqrt k':>7} {'k':>7}")
    gen = torch.Generator().manual_seed(0)
    sim_gen = torch.Generator().manual_seed(1)
    for op in OPS:
        for layout in ("contiguous", "transposed", "stride 0"):
            for kind in (("identical", "positive", "signed") if layout != "stride 0" else ("identical",)):
                for k in (16, 256, 4096, 65536):
                    torch_worst = sim_worst = 0.0
                    for _ in range(args.draws):
                        x = values(kind, k, layout, gen)
                        torch_worst = max(torch_worst, error_in_units(op, x, OPS[op](x)))
                        for _ in range(3):
                            with SimulatedPrecision(torch.float32, sim_gen):
                                simulated = OPS[op](x.double())
                            sim_worst = max(sim_worst, error_in_units(op, x, simulated))
                    print(f"{op:<12} {layout:<11} {kind:<10} {k:>7} {torch_worst:>9.3g} {sim_worst:>9.3g} "
                          f"{math.log2(k):>7.3g} {math.sqrt(k):>7.3g} {k:>7}")


if __name__ == "__main__":
    main()
