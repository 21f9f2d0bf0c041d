"""``labelled-pairs``: same-class pairs and random different-class pairs, with both items' classes."""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from .registry import SAMPLERS


@SAMPLERS.register("labelled-pairs")
class LabelledPairSampler:
    """Pairs with their classes, for losses that classify both items: every epoch holds each
    same-class pair of the training items once and ``negatives_per_positive`` times as many random
    different-class pairs (the paper's 1:3), shuffled; the target row is (same class, class of the
    first item, class of the second), classes as their index among the sorted labels."""

    arity = 2
    summary = "labelled pairs"

    def __init__(self, labels: np.ndarray, rng: np.random.Generator, negatives_per_positive: int = 3):
        labels = np.asarray(labels)
        self.classes, self.codes = np.unique(labels, return_inverse=True)
        if len(self.classes) < 2:
            raise UserError("Siamese training needs at least two classes")
        i, j = np.triu_indices(len(labels), k=1)
        same = self.codes[i] == self.codes[j]
        self.positives = np.stack([i[same], j[same]], 1)
        self.negatives = np.stack([i[~same], j[~same]], 1)
        if not len(self.positives):
            raise UserError("Siamese training needs a class with at least two items")
        self.rng, self.ratio = rng, negatives_per_positive
        self._epoch, self._cursor = np.zeros((0, 2), np.int64), 0

    def batches_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.positives) * (1 + self.ratio) // batch_size)

    def _new_epoch(self) -> np.ndarray:
        n_neg = min(len(self.negatives), self.ratio * len(self.positives))
        negatives = self.negatives[self.rng.choice(len(self.negatives), size=n_neg, replace=False)]
        pairs = np.concatenate([self.positives, negatives])
        return pairs[self.rng.permutation(len(pairs))]

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        if self._cursor >= len(self._epoch):
            self._epoch, self._cursor = self._new_epoch(), 0
        pairs = self._epoch[self._cursor:self._cursor + batch_size]
        self._cursor += batch_size
        c1, c2 = self.codes[pairs[:, 0]], self.codes[pairs[:, 1]]
        return [pairs[:, 0], pairs[:, 1]], np.stack([(c1 == c2), c1, c2], 1).astype(np.float32)
