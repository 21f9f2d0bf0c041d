"""Items grouped by class, for the samplers that draw members of given classes."""

from __future__ import annotations

import numpy as np

from ...errors import UserError


class ClassIndex:
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
