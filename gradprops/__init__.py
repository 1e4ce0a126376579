"""gradprops: property-based tests for PyTorch backward passes.

>>> import torch, gradprops
>>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> gradprops.assert_ones_seed_matches_sum(lambda t: t * t, (x,))
"""

from gradprops import properties as _properties
from gradprops.check import check
from gradprops.errors import NotChecked, PropertyFailure, UsageError
from gradprops.properties import *  # noqa: F403 - every assert_* helper, listed in properties.__all__
from gradprops.pytest_support import autograd_test
from gradprops.report import PropertyReport, Report

__version__ = "0.1.0"

__all__ = [
    "NotChecked",
    "PropertyFailure",
    "PropertyReport",
    "Report",
    "UsageError",
    "__version__",
    "autograd_test",
    "check",
    *_properties.__all__,
]
