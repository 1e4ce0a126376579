"""gradprops in one minute: a correct custom Function passes, a subtly broken one is caught.

Run: python examples/demo.py
"""

import torch

import gradprops
from gradprops import strategies as gst


class Sin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.cos()


class SinAssumesOnesSeed(torch.autograd.Function):
    """Right for y.sum().backward(), wrong for the seed ∂loss/∂y that training hands it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x.cos()


def main() -> int:
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    print("1. Helpers on one hand-picked tensor:")
    gradprops.assert_ones_seed_matches_sum(SinAssumesOnesSeed.apply, (x,))
    print("   the broken backward passes the ones-seed check (it is right for sum().backward())")

    print("\n2. gradprops.check on generated shapes, layouts and seeds, correct Sin:")
    print(gradprops.check(Sin.apply, gst.inputs("()"), max_examples=30, seed=0))

    print("\n3. The same on the broken one — the failure, shrunk:")
    try:
        gradprops.check(SinAssumesOnesSeed.apply, gst.inputs("()"), max_examples=30, seed=0)
    except gradprops.PropertyFailure as failure:
        print(failure)
        return 0
    print("   NOT caught: this is a gradprops bug")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
