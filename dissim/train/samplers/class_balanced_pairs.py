"""``class-balanced-pairs``: half same-class, half different-class pairs (the authors' ``getSiameseBatch``)."""

from __future__ import annotations

import numpy as np

from .class_index import ClassIndex
from .registry import SAMPLERS


@SAMPLERS.register("class-balanced-pairs")
class ClassBalancedPairSampler:
    """Pairs as the authors' ``getSiameseBatch``: half same-class, half different-class.

    Same-class pair: a class drawn uniformly, then two distinct images of it (target 1).
    Different-class pair: two distinct classes drawn uniformly, one image of each (target 0).
    The batch holds exactly ``batch_size // 2`` same-class pairs (the authors draw each pair's kind
    with probability 1/2; an exact half removes that noise).
    """

    arity = 2
    summary = "class-balanced pairs"

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.index = ClassIndex(labels)
        self.rng = rng

    def batches_per_epoch(self, batch_size: int) -> int:
        """One epoch: as many pairs as items, in whole batches."""
        return -(-len(self.index.order) // batch_size)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        """([first, second] item indices, target) with target 1.0 for same-class pairs."""
        rng, idx = self.rng, self.index
        n_same = batch_size // 2
        n_diff = batch_size - n_same
        same_cls = idx.pairable[rng.integers(0, len(idx.pairable), size=n_same)]
        a_same, b_same = idx.distinct_pair(same_cls, rng)
        cls_a = rng.integers(0, len(idx.classes), size=n_diff)
        cls_b = idx.other_classes(cls_a, rng)
        a = np.concatenate([a_same, idx.random_members(cls_a, rng)])
        b = np.concatenate([b_same, idx.random_members(cls_b, rng)])
        target = np.concatenate([np.ones(n_same), np.zeros(n_diff)]).astype(np.float32)
        return [a, b], target
