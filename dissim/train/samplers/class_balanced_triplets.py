"""``class-balanced-triplets``: (anchor, positive, negative) triplets, classes drawn uniformly."""

from __future__ import annotations

import numpy as np

from .class_index import ClassIndex
from .registry import SAMPLERS


@SAMPLERS.register("class-balanced-triplets")
class ClassBalancedTripletSampler:
    """(anchor, positive, negative) triplets, classes drawn uniformly.

    The anchor class is drawn uniformly among classes with two or more images; anchor and
    positive are two distinct images of it; the negative is an image of a uniformly drawn other class.
    """

    arity = 3
    summary = "class-balanced triplets"

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.index = ClassIndex(labels)
        self.rng = rng

    def batches_per_epoch(self, batch_size: int) -> int:
        """One epoch: as many triplets as items, in whole batches."""
        return -(-len(self.index.order) // batch_size)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], None]:
        rng, idx = self.rng, self.index
        cls = idx.pairable[rng.integers(0, len(idx.pairable), size=batch_size)]
        anchor, positive = idx.distinct_pair(cls, rng)
        negative = idx.random_members(idx.other_classes(cls, rng), rng)
        return [anchor, positive, negative], None
