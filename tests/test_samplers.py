"""Pair and triplet samplers: balance, validity, class uniformity."""

import numpy as np
import pytest

from dissim.train import ClassBalancedPairSampler, ClassBalancedTripletSampler


@pytest.fixture
def labels():
    # Unbalanced classes: the sampler must still draw classes uniformly.
    return np.repeat(np.arange(4), [40, 10, 5, 2])


def test_pairs_are_half_same_half_different(labels):
    sampler = ClassBalancedPairSampler(labels, np.random.default_rng(0))
    (a, b), target = sampler.sample(64)
    assert len(a) == len(b) == 64
    assert target.sum() == 32
    same = labels[a] == labels[b]
    assert np.array_equal(same, target == 1)
    assert np.all(a[target == 1] != b[target == 1])  # two distinct images of one class


def test_pair_classes_are_drawn_uniformly_not_by_size(labels):
    sampler = ClassBalancedPairSampler(labels, np.random.default_rng(1))
    (a, b), target = sampler.sample(40000)
    counts = np.bincount(labels[a[target == 1]], minlength=4) / (target == 1).sum()
    assert np.allclose(counts, 0.25, atol=0.02)
    neg = target == 0
    first = np.bincount(labels[a[neg]], minlength=4) / neg.sum()
    assert np.allclose(first, 0.25, atol=0.02)


def test_triplets_are_valid(labels):
    sampler = ClassBalancedTripletSampler(labels, np.random.default_rng(2))
    (anchor, positive, negative), target = sampler.sample(500)
    assert target is None
    assert np.all(labels[anchor] == labels[positive])
    assert np.all(anchor != positive)
    assert np.all(labels[anchor] != labels[negative])


def test_same_seed_same_batches(labels):
    one = ClassBalancedPairSampler(labels, np.random.default_rng(5)).sample(16)
    two = ClassBalancedPairSampler(labels, np.random.default_rng(5)).sample(16)
    assert all(np.array_equal(x, y) for x, y in zip(one[0], two[0]))


def test_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        ClassBalancedPairSampler(np.zeros(5, dtype=int), np.random.default_rng(0))
