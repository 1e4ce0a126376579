"""One module per property family; each exposes ``check_*`` (on a Target) and ``assert_*``."""

from gradprops.properties.adjoint import assert_forward_reverse_adjoint
from gradprops.properties.chain_rule import assert_chain_rule
from gradprops.properties.compiled import assert_compiled_matches_eager
from gradprops.properties.devices import assert_devices
from gradprops.properties.finite_differences import assert_finite_differences
from gradprops.properties.finite_grads import assert_finite_grads
from gradprops.properties.jacobian import assert_vjp_matches_jacobian
from gradprops.properties.linearity import assert_seed_linearity
from gradprops.properties.low_precision import assert_low_precision
from gradprops.properties.ones_sum import assert_ones_seed_matches_sum
from gradprops.properties.opcheck import assert_opcheck
from gradprops.properties.purity import assert_purity
from gradprops.properties.second_order import assert_second_order
from gradprops.properties.vmap import assert_vmap

__all__ = [
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
]
