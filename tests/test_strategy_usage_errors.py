"""Every argument error of a ``gst.*`` strategy is one error type: a ``gradprops.UsageError`` that is
also Hypothesis' ``InvalidArgument``, whose message says what to write instead."""

import pathlib
import re

import pytest
import torch
from hypothesis import find
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import gradprops
from gradprops import strategies as gst
from gradprops.strategies._validation import ArgumentError

# (make, what to do, lazy): ``make`` builds the strategy; a lazy error (it depends on what is drawn)
# is raised by the first draw instead.
CASES = {
    # --- inputs(): budget, sides, dims, signatures
    "inputs low > high": (lambda: gst.inputs("()", low=5, high=1), "pass low <= high, e.g. low=1.0, high=5.0"),
    "inputs per-input low > high": (lambda: gst.inputs("(),()", low=(2.0, None), high=1.0),
                                    "pass low <= high, e.g. low[0]=1.0, high[0]=2.0"),
    "inputs min_side=2": (lambda: gst.inputs("(n)", min_side=2), "pass min_side=1 to leave out size-0 dims"),
    "inputs fixed sizes over the budget": (lambda: gst.inputs("(1000,1000)"),
                                           "raise max_elements to at least 1000000, e.g. "
                                           "gst.inputs('(1000,1000)', max_elements=1000000)"),
    "inputs dtype tuple too short": (lambda: gst.inputs("(n),(n)", dtype=(torch.float64,)),
                                     "pass a tuple of 2, e.g. dtype=(torch.float64, torch.float64), "
                                     "or a single value"),
    "inputs dtype tuple too long": (lambda: gst.inputs("()", dtype=(torch.float64, torch.int64)),
                                    "pass a tuple of 1, e.g. dtype=(torch.float64,)"),
    "inputs exclude tuple too short": (lambda: gst.inputs("(),()", exclude=((0.0,),)),
                                       "pass a tuple of 2, e.g. exclude=((0.0,), (0.0,))"),
    "inputs positive with high < 0": (lambda: gst.inputs("()", positive=True, high=-1),
                                      "pass a high above 0 (e.g. high=1.0), or drop positive=True"),
    "inputs max_batch_dims over 32 dims": (lambda: gst.inputs("()", max_batch_dims=40),
                                           "pass max_batch_dims=31 or fewer"),
    "inputs fixed size 0 with min_side=1": (lambda: gst.inputs("(0,n)", min_side=1),
                                            "pass min_side=0, or a fixed size of 1 or more"),
    "inputs max_side=0": (lambda: gst.inputs("()", max_side=0), "pass max_side=1 or more"),
    "inputs min_side=-1": (lambda: gst.inputs("()", min_side=-1), "pass min_side=0 or more"),
    "inputs a core over 32 dims": (lambda: gst.inputs("(" + ",".join(f"d{i}" for i in range(33)) + ")"),
                                   "write at most 32 dims per input"),
    "inputs dims separated by a space": (lambda: gst.inputs("(m n)"), "separate them with commas, e.g. '(m,n)'"),
    "inputs names not a list": (lambda: gst.inputs("(n)", names=5), "e.g. names=['input']"),
    "inputs names clash with arguments": (lambda: gst.inputs("(n)", names=["dim"], arguments={"dim": 0}),
                                          "rename them, e.g. names=['x0']"),
    "inputs arguments not a dict": (lambda: gst.inputs("(n)", names=["input"], arguments=5),
                                    "e.g. arguments={'dim': -1"),
    "inputs argument function returns no strategy": (
        lambda: gst.inputs("(n)", names=["input"], arguments={"dim": lambda xs: 0}),
        "e.g. lambda xs: st.integers(0, xs[0].dim())", "lazy"),
    # --- tensors(): shapes and domains
    "tensors low > high": (lambda: gst.tensors(low=5, high=1), "pass low <= high, e.g. low=1.0, high=5.0"),
    "tensors positive with high < 0": (lambda: gst.tensors(positive=True, high=-1),
                                       "pass a high above 0 (e.g. high=1.0), or drop positive=True"),
    "tensors shape over the budget": (lambda: gst.tensors(shape=(1000, 1000)),
                                      "raise max_elements or pass a smaller shape, e.g. max_elements=1000000"),
    "tensors negative size": (lambda: gst.tensors(shape=(2, -1)), "pass sizes of 0 or more, e.g. (2, 3)"),
    "tensors shape strategy draws a bad shape": (lambda: gst.tensors(shape=st.just([2])),
                                                 "draw tuples of sizes, e.g. shape=gst.shapes()", "lazy"),
    "tensors negative margin": (lambda: gst.tensors(exclude=(0.0,), margin=-0.5),
                                "pass a margin of 0 or more, e.g. margin=0.5, or None for the default"),
    "tensors bound on a complex dtype": (lambda: gst.tensors(dtype=torch.complex128, low=0.0),
                                         "drop low, high, exclude, margin and positive"),
    "tensors bound outside the dtype": (lambda: gst.tensors(dtype=torch.int8, low=-1000),
                                        "pass a low within it, or None for no bound"),
    "tensors empty domain": (lambda: gst.tensors(low=0.0, high=0.0, exclude=(0.0,)),
                             "widen low/high, drop an excluded point or make the margin smaller"),
    "tensors exclude not a tuple": (lambda: gst.tensors(exclude="0"), "e.g. exclude=(0.0,), or () for none"),
    "tensors bound too large for a float": (lambda: gst.tensors(low=10**400), "pass a number between"),
    # --- shapes(), seeds()
    "shapes max_dims over 32": (lambda: gst.shapes(max_dims=40), "pass max_dims=32 or fewer"),
    "shapes min_side > max_side": (lambda: gst.shapes(min_side=3, max_side=1),
                                   "pass min_side <= max_side, e.g. min_side=1, max_side=3"),
    "seeds of one tensor": (lambda: gst.seeds(torch.zeros(3)), "e.g. gst.seeds((y,)) for one tensor y"),
    "seeds of a non-tensor": (lambda: gst.seeds((torch.zeros(3), 1.0)), "pass only the output tensors"),
    "seeds of an integer output": (lambda: gst.seeds((torch.zeros(3, dtype=torch.int64),)),
                                   "leave outputs[0] out of outputs"),
    # --- structured domains
    "spd condition < 1": (lambda: gst.spd(gst.inputs("(n,n)"), condition=0.5), "pass e.g. condition=100.0"),
    "spd of a tensor": (lambda: gst.spd(torch.eye(2)), "pass spd(gst.inputs(...))"),
    "spd index not an int": (lambda: gst.spd(gst.inputs("(n,n)"), index="a"), "pass e.g. index=0"),
    "simplex smallest=0": (lambda: gst.simplex(gst.inputs("(n)"), smallest=0), "pass e.g. smallest=1e-3"),
    "simplex dim not an int": (lambda: gst.simplex(gst.inputs("(n)"), dim="a"), "e.g. dim=-1"),
    "class_indices of a tensor": (lambda: gst.class_indices(torch.eye(2)), "pass class_indices(gst.inputs(...))"),
    "class_indices index not an int": (lambda: gst.class_indices(gst.inputs("(n)"), index=None),
                                       "pass e.g. index=0"),
    "spd of a non-square input": (lambda: gst.spd(gst.inputs("(2,3)")), "draw square matrices", "lazy"),
    "orthogonal of a wide input": (lambda: gst.orthogonal(gst.inputs("(2,3)")),
                                   "draw at least as many rows as columns", "lazy"),
    "spd index past the inputs": (lambda: gst.spd(gst.inputs("(n,n)"), index=3),
                                  "pass the index of a tensor it draws", "lazy"),
    "class_indices of integer logits": (lambda: gst.class_indices(gst.inputs("(n)", dtype=torch.int64)),
                                        "draw it with a floating dtype", "lazy"),
    "simplex dim out of range": (lambda: gst.simplex(gst.inputs("()", max_batch_dims=1), dim=5),
                                 "draw inputs with that dim", "lazy"),
}


@pytest.mark.parametrize(("make", "says", "when"), [(*case, "eager")[:3] for case in CASES.values()],
                         ids=list(CASES))
def test_a_strategy_argument_error_is_a_usage_error_and_invalid_argument_saying_what_to_do(make, says, when):
    with pytest.raises(gradprops.UsageError, match=re.escape(says)) as info:
        if when == "lazy":  # depends on what is drawn: raised by the first draw
            find(make(), lambda _: True)
        else:  # raised where the strategy is made, not when first drawn from
            make()
    assert isinstance(info.value, InvalidArgument)
    assert type(info.value) is ArgumentError  # one error type for all of them


def test_no_strategy_raises_a_plain_invalid_argument():
    package = pathlib.Path(gst.__file__).parent
    plain = [f"{path.name}:{n}" for path in sorted(package.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"raise InvalidArgument\b", line)]
    assert plain == [], "raise ArgumentError (a UsageError and an InvalidArgument) instead"
