"""Hypothesis strategies for autograd tests: shapes, tensors, signature-shaped inputs and seeds.

>>> from gradprops import strategies as gst
>>> gst.inputs("(m,n),(n,p)")  # doctest: +SKIP

Modules, one job each: :mod:`~gradprops.strategies.shapes` (shapes), ``domains`` (which values are
allowed), ``values`` (filling a tensor fast from a seeded generator), ``layouts`` (memory layouts),
``tensors`` (one leaf tensor), ``signatures`` (shapes from a gufunc signature), ``inputs`` (the
tuple a function is called with), ``structured`` (inputs made into SPD matrices, probability rows,
class indices) and ``seeds`` (the vectors given to backward).
"""

from gradprops.strategies.functions import functions
from gradprops.strategies.inputs import inputs
from gradprops.strategies.layouts import LAYOUTS
from gradprops.strategies.seeds import seeds
from gradprops.strategies.shapes import shapes
from gradprops.strategies.structured import class_indices, orthogonal, simplex, spd, well_conditioned
from gradprops.strategies.tensors import tensors

__all__ = ["LAYOUTS", "class_indices", "functions", "inputs", "orthogonal", "seeds", "shapes", "simplex", "spd",
           "tensors", "well_conditioned"]
