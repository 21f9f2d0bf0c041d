"""``items``: single items in shuffled epochs, target = class index (classifiers)."""

from __future__ import annotations

import numpy as np

from .registry import SAMPLERS


@SAMPLERS.register("items")
class ItemSampler:
    """Single items in shuffled epochs, target = class index among the sorted labels (classifiers)."""

    arity = 1
    summary = None  # single items

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.classes, self.codes = np.unique(np.asarray(labels), return_inverse=True)
        self.rng, self._order, self._cursor = rng, np.arange(0), 0

    def batches_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.codes) // batch_size)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        if self._cursor >= len(self._order):
            self._order, self._cursor = self.rng.permutation(len(self.codes)), 0
        chosen = self._order[self._cursor:self._cursor + batch_size]
        self._cursor += batch_size
        return [chosen], self.codes[chosen].astype(np.float32)
