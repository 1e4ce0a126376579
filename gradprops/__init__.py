"""gradprops: property-based tests for PyTorch backward passes.

>>> import torch, gradprops
>>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> gradprops.assert_ones_seed_matches_sum(lambda t: t * t, (x,))

The public names load on first use: ``import gradprops`` alone imports no torch, so the pytest
plugin can read :mod:`gradprops.dtype_names` in a project without gradprops tests for free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "NotChecked",
    "PropertyFailure",
    "PropertyReport",
    "Report",
    "UsageError",
    "__version__",
    "assert_chain_rule",
    "assert_compiled_matches_eager",
    "assert_devices",
    "assert_finite_differences",
    "assert_finite_grads",
    "assert_forward_reverse_adjoint",
    "assert_low_precision",
    "assert_ones_seed_matches_sum",
    "assert_opcheck",
    "assert_purity",
    "assert_second_order",
    "assert_seed_linearity",
    "assert_vjp_matches_jacobian",
    "assert_vmap",
    "autograd_test",
    "check",
]

#: Each public name -> the module that defines it.
_HOMES = {
    "NotChecked": "gradprops.errors",
    "PropertyFailure": "gradprops.errors",
    "UsageError": "gradprops.errors",
    "PropertyReport": "gradprops.report",
    "Report": "gradprops.report",
    "autograd_test": "gradprops.pytest_support",
    "check": "gradprops.checking",
    **{name: "gradprops.properties" for name in __all__ if name.startswith("assert_")},
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        if name == "strategies":  # as `import gradprops` made it available before names loaded lazily
            return importlib.import_module("gradprops.strategies")
        raise AttributeError(f"module 'gradprops' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from gradprops.checking import check
    from gradprops.errors import NotChecked, PropertyFailure, UsageError
    from gradprops.properties import (
        assert_chain_rule,
        assert_compiled_matches_eager,
        assert_devices,
        assert_finite_differences,
        assert_finite_grads,
        assert_forward_reverse_adjoint,
        assert_low_precision,
        assert_ones_seed_matches_sum,
        assert_opcheck,
        assert_purity,
        assert_second_order,
        assert_seed_linearity,
        assert_vjp_matches_jacobian,
        assert_vmap,
    )
    from gradprops.pytest_support import autograd_test
    from gradprops.report import PropertyReport, Report
