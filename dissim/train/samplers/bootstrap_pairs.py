"""``bootstrap-pairs``: balanced bootstrap pairs (Liu et al., "Dynamic spectrum matching with one-shot learning", §2.2)."""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from .class_index import ClassIndex
from .registry import SAMPLERS


@SAMPLERS.register("bootstrap-pairs")
class BalancedBootstrapPairSampler:
    """Balanced bootstrap pairs (Liu et al., "Dynamic spectrum matching with one-shot learning", §2.2).

    Of the S_m same-class and S_n different-class pairs of the training items (S_m << S_n when
    there are many classes with few items each), every batch draws as many negative pairs as
    positive pairs, both uniformly over all such pairs and with replacement: a class with more
    items gives proportionally more positive pairs, and a pair may repeat. One bootstrap
    iteration (:meth:`epoch`) draws S_m positive and S_m negative pairs in batches.
    The batch holds ``batch_size // 2`` positive pairs (target 1) then as many negative ones (target 0).
    """

    arity = 2
    summary = "balanced bootstrap pairs"  # how tables describe its batches (None: the loss's summary does)
    epoch_label = "epoch (bootstrap iteration)"  # what its epoch is on a training curve (other samplers: "epoch")

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.labels = np.asarray(labels)
        self.index = ClassIndex(self.labels)
        self.rng = rng
        counts = self.index.counts.astype(np.int64)
        per_class = counts * (counts - 1) // 2
        self.n_positive_pairs = int(per_class.sum())
        self.n_negative_pairs = int((counts.sum() ** 2 - (counts ** 2).sum()) // 2)
        self._class_p = per_class / per_class.sum()
        self._class_of = np.searchsorted(self.index.classes, self.labels)

    def sample(self, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
        """([first, second] item indices, target): ``batch_size // 2`` positive then as many negative pairs."""
        if batch_size < 2 or batch_size % 2:
            raise UserError(f"balanced pairs need an even batch size of at least 2, got {batch_size}")
        n = batch_size // 2
        cls = self.rng.choice(len(self.index.classes), size=n, p=self._class_p)
        a_pos, b_pos = self.index.distinct_pair(cls, self.rng)
        a_neg, b_neg = self._negatives(n)
        target = np.concatenate([np.ones(n), np.zeros(n)]).astype(np.float32)
        return [np.concatenate([a_pos, a_neg]), np.concatenate([b_pos, b_neg])], target

    def _negatives(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs uniform over the different-class pairs (rejection of same-class draws)."""
        total = len(self.labels)
        got_a, got_b, have = [], [], 0
        while have < n:
            draw = max(2 * (n - have), 64)
            a = self.rng.integers(0, total, size=draw)
            b = self.rng.integers(0, total, size=draw)
            keep = self._class_of[a] != self._class_of[b]
            got_a.append(a[keep])
            got_b.append(b[keep])
            have += int(keep.sum())
        return np.concatenate(got_a)[:n], np.concatenate(got_b)[:n]

    def batches_per_epoch(self, batch_size: int) -> int:
        """Batches of one bootstrap iteration: S_m positive pairs, rounded up to whole batches."""
        return -(-self.n_positive_pairs // (batch_size // 2))

    def epoch(self, batch_size: int):
        """The batches of one bootstrap iteration (S_m positive and S_m negative pairs, in whole batches)."""
        for _ in range(self.batches_per_epoch(batch_size)):
            yield self.sample(batch_size)
