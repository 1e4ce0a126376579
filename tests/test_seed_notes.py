"""The worked examples of the notes the project grew from (shared/seeds/), as tests."""

import pytest
import torch

import gradprops


def test_vector_output_seeded_with_ones_gives_2x():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, torch.tensor([2.0, 4.0, 6.0]))


def test_scalar_output_needs_no_seed_and_gives_4x():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = 2 * torch.dot(x, x)
    assert y.item() == 28.0
    y.backward()
    assert torch.equal(x.grad, torch.tensor([4.0, 8.0, 12.0]))


def test_ones_seed_is_the_sum_for_the_notes_example():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gradprops.assert_ones_seed_matches_sum(lambda t: t * t, (x,))
    (via_sum,) = torch.autograd.grad((x * x).sum(), x)
    assert torch.equal(via_sum, torch.tensor([2.0, 4.0, 6.0]))


def test_training_seed_reaching_y_pred_is_dloss_dy_not_ones():
    """Scenario 1: loss.backward() hands y_pred the seed 2·(y_pred − y_true)/N, never all ones."""
    y_true = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64)
    y_pred = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    seen = []
    y_pred.register_hook(seen.append)
    loss = torch.mean((y_pred - y_true) ** 2)
    loss.backward()
    expected = 2 * (y_pred.detach() - y_true) / y_true.numel()
    assert torch.allclose(seen[0], expected)
    assert not torch.equal(seen[0], torch.ones_like(seen[0]))


def test_the_training_seed_checks_a_backward_that_ones_seeding_cannot():
    """A backward that assumes a ones seed passes ones seeding but fails under the training seed."""
    from tests.functions import IgnoresSeed

    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    gradprops.assert_ones_seed_matches_sum(IgnoresSeed.apply, (x,))
    training_seed = 2 * (torch.sin(x.detach()) - torch.zeros(3, dtype=torch.float64)) / 3
    with pytest.raises(gradprops.PropertyFailure, match="seed_linearity"):
        gradprops.assert_seed_linearity(IgnoresSeed.apply, (x,), seeds=(training_seed, -training_seed))
    # Every Jacobian row built from a basis seed is cos(x), so vᵀJ = (Σv)·cos(x) ≠ cos(x).
    with pytest.raises(gradprops.PropertyFailure, match="vjp_matches_jacobian"):
        gradprops.assert_vjp_matches_jacobian(IgnoresSeed.apply, (x,), training_seed)
