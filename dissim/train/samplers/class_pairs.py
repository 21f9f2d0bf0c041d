"""``class-pairs``: single items in batches of classes x 2 distinct items, target = class index."""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from .class_index import ClassIndex
from .registry import SAMPLERS


@SAMPLERS.register("class-pairs")
class ClassPairItemSampler:
    """Single items in batches of ``batch_size // 2`` classes x 2 distinct items each (classes with
    two or more items, drawn uniformly without replacement within a batch), target = class index:
    every item of a batch has a positive and many negatives in it, for losses that mine their
    pairs or triplets inside the batch (batch-hard).

    ``single_views=True`` draws classes with a single item too, giving that item twice: with
    training augmentation its two views differ (self-supervised positives, as in contrastive
    pre-training), and either way it is a negative for every other class of the batch."""

    arity = 1
    summary = None  # the loss that trains on it (batch-hard) says what its batches hold

    def __init__(self, labels: np.ndarray, rng: np.random.Generator, single_views: bool = False):
        self.index = ClassIndex(labels)
        self.codes = np.searchsorted(self.index.classes, np.asarray(labels))
        self.rng = rng
        self.single_views = single_views
        if single_views:
            self.index.pairable = np.arange(len(self.index.classes))

    def batches_per_epoch(self, batch_size: int) -> int:
        """One epoch: as many items as the training set holds, in whole batches."""
        return -(-len(self.index.order) // batch_size)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        if batch_size < 4 or batch_size % 2:
            raise UserError(f"class-pairs batches need an even batch size of at least 4, got {batch_size}")
        pairable = self.index.pairable
        n = min(batch_size // 2, len(pairable))
        cls = pairable[self.rng.choice(len(pairable), size=n, replace=False)]
        draw = self.index.pair_or_twice if self.single_views else self.index.distinct_pair
        first, second = draw(cls, self.rng)
        items = np.concatenate([first, second])
        return [items], self.codes[items].astype(np.float32)
