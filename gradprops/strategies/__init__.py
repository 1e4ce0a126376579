"""Hypothesis strategies for autograd tests: shapes, tensors and seeds.

>>> from gradprops import strategies as gst
>>> gst.tensors(shape=(2, 3))  # doctest: +SKIP

Modules, one job each: :mod:`~gradprops.strategies.shapes` (shapes), ``domains`` (which values are
allowed), ``values`` (filling a tensor fast from a seeded generator), ``layouts`` (memory layouts),
``tensors`` (one leaf tensor) and ``seeds`` (the vectors given to backward).
"""

from gradprops.strategies.layouts import LAYOUTS
from gradprops.strategies.seeds import seeds
from gradprops.strategies.shapes import shapes
from gradprops.strategies.tensors import tensors

__all__ = ["LAYOUTS", "seeds", "shapes", "tensors"]
