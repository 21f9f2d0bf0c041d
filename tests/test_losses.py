"""The BCE pair loss and the triplet loss."""

import pytest
import torch

from dissim.errors import UserError
from dissim.train import create_loss, list_losses


def test_registry_lists_losses_and_rejects_unknown():
    assert {"bce", "triplet"} <= set(list_losses())
    with pytest.raises(UserError, match="known losses are batch-hard, bce"):
        create_loss("hinge", 4)


def test_triplet_is_zero_for_well_separated_triplets():
    loss = create_loss("triplet", 3, margin=1.0)
    a = torch.zeros(4, 3)
    p = a + 0.01
    n = a + 2.0  # ‖a − n‖ = 2·√3 > ‖a − p‖ + 1
    assert loss(a, p, n).item() == 0.0


def test_triplet_is_positive_when_negative_is_close():
    loss = create_loss("triplet", 3, margin=1.0)
    a = torch.zeros(4, 3)
    assert loss(a, a + 0.5, a + 0.1).item() > 0
    # exactly margin + d(a, p) - d(a, n) per triplet
    expected = 1.0 + (torch.sqrt(torch.tensor(0.75 + 1e-6)) - torch.sqrt(torch.tensor(0.03 + 1e-6)))
    assert loss(a, a + 0.5, a + 0.1).item() == pytest.approx(expected.item(), rel=1e-5)


def test_triplet_gradient_reduces_the_loss_on_a_toy_problem():
    torch.manual_seed(0)
    loss = create_loss("triplet", 4)
    net = torch.nn.Linear(6, 4)
    centre = torch.randn(6)  # class A around +centre, class B around -centre
    anchors, positives = centre + 0.3 * torch.randn(32, 6), centre + 0.3 * torch.randn(32, 6)
    negatives = -centre + 0.3 * torch.randn(32, 6)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    values = []
    for _ in range(100):
        value = loss(*(torch.sigmoid(net(x)) for x in (anchors, positives, negatives)))
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]


def test_bce_loss_prefers_close_same_class_pairs():
    loss = create_loss("bce", 3)
    with torch.no_grad():
        loss.head.weight.fill_(-5.0)
        loss.head.bias.fill_(2.0)
    f1 = torch.zeros(2, 3)
    near, far = torch.full((2, 3), 0.05), torch.full((2, 3), 0.9)
    same = torch.ones(2)
    assert loss(f1, near, same) < loss(f1, far, same)
    assert torch.allclose(loss.fully(f1, near[:1]), torch.sigmoid(loss.head(f1, near[:1].expand(2, 3)))[:, None])


def test_batch_hard_picks_the_farthest_positive_and_the_nearest_negative():
    import torch

    from dissim.train import create_loss

    loss = create_loss("batch-hard", 2, margin=0.5)
    features = torch.tensor([[0.0, 0.0], [3.0, 0.0], [1.0, 0.0], [0.0, 10.0]])
    target = torch.tensor([0.0, 0.0, 1.0, 2.0])
    # anchor 0: positive 1 at 3, nearest negative 2 at 1 (not 3, at 10) -> 3 - 1 + 0.5; anchor 1:
    # positive at 3, nearest negative 2 at 2 -> 1.5; items 2 and 3 have no positive and do not count
    assert torch.isclose(loss(features, target=target), torch.tensor((2.5 + 1.5) / 2))


def test_class_pairs_batches_hold_two_items_of_each_drawn_class():
    import numpy as np

    from dissim.train.samplers import SAMPLERS

    labels = np.repeat(np.arange(20), 3)
    sampler = SAMPLERS.create("class-pairs", labels, np.random.default_rng(0))
    (items,), target = sampler.sample(16)
    assert len(items) == 16 and len(set(items)) == 16
    assert np.array_equal(labels[items], target.astype(int))
    assert all(np.sum(labels[items] == c) == 2 for c in set(labels[items]))
