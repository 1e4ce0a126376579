"""gradprops: property-based tests for PyTorch backward passes.

>>> import torch, gradprops
>>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> gradprops.assert_ones_seed_matches_sum(lambda t: t * t, (x,))
"""

from gradprops.errors import PropertyFailure, UsageError
from gradprops.properties import (
    assert_ones_seed_matches_sum,
    assert_seed_linearity,
    assert_vjp_matches_jacobian,
)

__version__ = "0.1.0"

__all__ = [
    "PropertyFailure",
    "UsageError",
    "__version__",
    "assert_ones_seed_matches_sum",
    "assert_seed_linearity",
    "assert_vjp_matches_jacobian",
]
