"""``partner-pairs``: a fixed pair set, each item with a few random partners (Borsani 2023 §1.1)."""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from .registry import SAMPLERS


def partner_pairs(n_items: int, partners: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(first, second): every item paired with ``partners`` distinct other items drawn at random
    (never itself), as Borsani 2023 §1.1 builds its pair sets; item i's pairs come i-th."""
    if n_items < 2:
        raise UserError("pairs need at least two items")
    partners = min(partners, n_items - 1)
    first = np.repeat(np.arange(n_items), partners)
    # partners of item i: a draw without replacement from the other n - 1 items (offsets 1..n-1 from i)
    offsets = np.stack([rng.choice(n_items - 1, size=partners, replace=False) + 1 for _ in range(n_items)])
    second = (first + offsets.ravel()) % n_items
    return first, second


@SAMPLERS.register("partner-pairs")
class PartnerPairSampler:
    """A fixed pair set, each item with ``partners`` random others (target 1 when their classes
    agree), shuffled at every epoch and served in batches (the last batch of an epoch may be short)."""

    arity = 2
    summary = "partner pairs"

    def __init__(self, labels: np.ndarray, rng: np.random.Generator, partners: int = 5):
        self.labels = np.asarray(labels)
        self.rng = rng
        self.first, self.second = partner_pairs(len(self.labels), partners, rng)
        self.target = (self.labels[self.first] == self.labels[self.second]).astype(np.float32)
        self._order, self._cursor = np.arange(0), 0

    def batches_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.first) // batch_size)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        if self._cursor >= len(self._order):
            self._order, self._cursor = self.rng.permutation(len(self.first)), 0
        chosen = self._order[self._cursor:self._cursor + batch_size]
        self._cursor += batch_size
        return [self.first[chosen], self.second[chosen]], self.target[chosen]
