"""One module per property family; each exposes ``check_*`` (on a Target) and ``assert_*``."""

from gradprops.properties.jacobian import assert_vjp_matches_jacobian
from gradprops.properties.linearity import assert_seed_linearity
from gradprops.properties.ones_sum import assert_ones_seed_matches_sum

__all__ = [
    "assert_ones_seed_matches_sum",
    "assert_seed_linearity",
    "assert_vjp_matches_jacobian",
]
