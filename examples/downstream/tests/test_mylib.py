"""mylib under gradprops: one line per function, one pytest item per property.

The plugin comes with gradprops (its pytest11 entry point): no conftest, no ``pytest_plugins``.
"""

from __future__ import annotations

from functools import partial

import mylib
import torch

from gradprops import autograd_test
from gradprops import strategies as gst

# A gufunc signature string: inputs drawn by gst.inputs for each dtype.
test_scaled_softplus = autograd_test(mylib.ScaledSoftplus.apply, inputs="()", dtypes=["float32", "float64"])

# A callable taking dtype=: for extra gst.inputs arguments. Dtypes from --gradprops-dtypes (float64).
# Normalising a 1-element row of 1000 has a grad of ~1e-15 computed from O(1) terms: rounding noise
# that no backward avoids, so keep values moderate.
moderate = partial(gst.inputs, low=-10.0, high=10.0)
test_row_normalize = autograd_test(mylib.row_normalize, inputs=partial(moderate, "(m,n)", max_side=5))

# A module, with a strategy of its inputs (its dtype is fixed: the module is float64).
test_swish_gate = autograd_test(
    mylib.SwishGate(4, 3).double(), inputs=gst.inputs("(b,4)"), properties=["seed_linearity", "vjp_matches_jacobian"]
)


# The decorator form: the decorated function is the function under test.
@autograd_test(inputs=partial(moderate, "(n)"))
def test_softplus_of_normalized(x: torch.Tensor) -> torch.Tensor:
    return mylib.ScaledSoftplus.apply(mylib.row_normalize(x), 3.0)


# The fixture, for tests that mix ordinary assertions with gradprops' checks.
def test_row_normalize_gives_unit_rows_and_a_right_backward(gradprops) -> None:
    x = torch.randn(3, 5, dtype=torch.float64)
    norms = mylib.row_normalize(x).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)  # eps=1e-6
    gradprops.check(mylib.row_normalize, gradprops.strategies.inputs("(m,n)"),
                    properties=["seed_linearity", "ones_seed_matches_sum"])
