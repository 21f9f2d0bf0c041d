"""Pair and triplet samplers for Siamese training (index arrays, vectorised, seeded), on one registry.

A sampler is built as ``sampler(labels, rng)``; ``sample(batch_size)`` returns (index groups, target or
None); ``arity`` is the number of groups (2: pairs, 3: triplets) and must match the loss's;
``batches_per_epoch(batch_size)`` says how many batches make one epoch.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..registry import Registry

SAMPLERS = Registry("sampler")


class _ClassIndex:
    """Items grouped by class, for drawing random members of given classes in one call."""

    def __init__(self, labels: np.ndarray):
        labels = np.asarray(labels)
        self.classes, self.counts = np.unique(labels, return_counts=True)
        self.order = np.argsort(np.searchsorted(self.classes, labels), kind="stable")
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        if len(self.classes) < 2:
            raise UserError("Siamese training needs at least two classes")
        if self.counts.max() < 2:
            raise UserError("Siamese training needs a class with at least two items")
        self.pairable = np.flatnonzero(self.counts >= 2)  # classes that can give a same-class pair

    def members(self, class_pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return self.order[self.starts[class_pos] + offsets]

    def random_members(self, class_pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.members(class_pos, rng.integers(0, self.counts[class_pos]))

    def distinct_pair(self, class_pos: np.ndarray, rng: np.random.Generator):
        """Two different items of each given class."""
        n = self.counts[class_pos]
        first = rng.integers(0, n)
        second = (first + 1 + rng.integers(0, n - 1)) % n
        return self.members(class_pos, first), self.members(class_pos, second)

    def pair_or_twice(self, class_pos: np.ndarray, rng: np.random.Generator):
        """Two different items of each given class; a class of one item gives that item twice."""
        n = self.counts[class_pos]
        first = rng.integers(0, n)
        second = (first + 1 + rng.integers(0, np.maximum(n - 1, 1))) % n
        return self.members(class_pos, first), self.members(class_pos, np.where(n > 1, second, first))

    def other_classes(self, class_pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn class different from each given one."""
        c = len(self.classes)
        return (class_pos + 1 + rng.integers(0, c - 1, size=len(class_pos))) % c


@SAMPLERS.register("class-balanced-pairs")
class ClassBalancedPairSampler:
    """Pairs as the authors' ``getSiameseBatch``: half same-class, half different-class.

    Same-class pair: a class drawn uniformly, then two distinct images of it (target 1).
    Different-class pair: two distinct classes drawn uniformly, one image of each (target 0).
    The batch holds exactly ``batch_size // 2`` same-class pairs (the authors draw each pair's kind
    with probability 1/2; an exact half removes that noise).
    """

    arity = 2

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.index = _ClassIndex(labels)
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


@SAMPLERS.register("class-balanced-triplets")
class ClassBalancedTripletSampler:
    """(anchor, positive, negative) triplets, classes drawn uniformly.

    The anchor class is drawn uniformly among classes with two or more images; anchor and
    positive are two distinct images of it; the negative is an image of a uniformly drawn other class.
    """

    arity = 3

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.index = _ClassIndex(labels)
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

    def __init__(self, labels: np.ndarray, rng: np.random.Generator, single_views: bool = False):
        self.index = _ClassIndex(labels)
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

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        self.labels = np.asarray(labels)
        self.index = _ClassIndex(self.labels)
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


@SAMPLERS.register("labelled-pairs")
class LabelledPairSampler:
    """Pairs with their classes, for losses that classify both items: every epoch holds each
    same-class pair of the training items once and ``negatives_per_positive`` times as many random
    different-class pairs (the paper's 1:3), shuffled; the target row is (same class, class of the
    first item, class of the second), classes as their index among the sorted labels."""

    arity = 2

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


@SAMPLERS.register("items")
class ItemSampler:
    """Single items in shuffled epochs, target = class index among the sorted labels (classifiers)."""

    arity = 1

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
