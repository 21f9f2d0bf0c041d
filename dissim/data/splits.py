"""How data are split: stratified folds of items, and class-disjoint partitions for matching
classes never seen in training (Liu et al. §3.1.1).

Class partitions: classes with at least ``min_per_class`` items are split at random into disjoint
training, validation and test classes (50/10/40 % by default). At test time one random item of
each test class is its reference; every other item of the test classes is a query. With
``distractors`` the single item of every class too small to be split (fewer than
``min_per_class``) joins the references: the search then runs over a library that also holds
classes no query belongs to. Without distractors those items are the partition's
``small_class_index``: they belong to no validation or test class, so learned matchers may train on
them. Each partition draws its classes and references from its own seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..errors import UserError

MIN_CLASSES = {"train": 2, "validation": 2, "test": 2}


@dataclass(frozen=True)
class Partition:
    """One random class split with its references and queries (indices into the data set)."""

    number: int  # 1-based
    train_classes: np.ndarray
    val_classes: np.ndarray
    test_classes: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    reference_index: np.ndarray  # one per test class, then the distractors (if any)
    query_index: np.ndarray
    small_class_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # items of the classes
    # too small to split (none when they are distractors): in no validation or test class

    def summary(self) -> dict:
        return {"partition": self.number, "train_classes": len(self.train_classes),
                "validation_classes": len(self.val_classes), "test_classes": len(self.test_classes),
                "train_spectra": len(self.train_index), "validation_spectra": len(self.val_index),
                "references": len(self.reference_index), "queries": len(self.query_index)}


def eligible_classes(labels: np.ndarray, min_per_class: int = 2) -> np.ndarray:
    """Class ids with at least ``min_per_class`` items."""
    counts = np.bincount(np.asarray(labels))
    return np.flatnonzero(counts >= min_per_class)


def split_sizes(n_classes: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """(train, validation, test) class counts: test and validation rounded from their fractions."""
    n_test = int(round(fractions[2] * n_classes))
    n_val = int(round(fractions[1] * n_classes)) if fractions[1] > 0 else 0
    return n_classes - n_val - n_test, n_val, n_test


def check_fractions(fractions) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise UserError(f"fractions must be three non-negative numbers (train, validation, test) summing to 1, "
                        f"got {list(fractions)}")
    if fractions[0] == 0 or fractions[2] == 0:
        raise UserError(f"fractions {list(fractions)}: the training and test fractions must be positive")
    return fractions


def minimum_classes(fractions: tuple[float, float, float]) -> int:
    """The fewest eligible classes for which every part gets its minimum number of classes."""
    for n in range(2, 10_000):
        train, val, test = split_sizes(n, fractions)
        if (train >= MIN_CLASSES["train"] and test >= MIN_CLASSES["test"]
                and (fractions[1] == 0 or val >= MIN_CLASSES["validation"])):
            return n
    raise UserError(f"fractions {list(fractions)} leave a part without classes")


def make_partitions(labels: np.ndarray, n_partitions: int, seed: int, *, fractions=(0.5, 0.1, 0.4),
                    min_per_class: int = 2, distractors: bool = False, dataset: str = "the data set") -> list[Partition]:
    """``n_partitions`` random class-disjoint partitions (partition p seeded by (seed, p))."""
    labels = np.asarray(labels)
    fractions = check_fractions(fractions)
    if not isinstance(n_partitions, int) or n_partitions < 1:
        raise UserError(f"partitions must be a positive integer, got {n_partitions!r}")
    eligible = eligible_classes(labels, min_per_class)
    needed = minimum_classes(fractions)
    if len(eligible) < needed:
        raise UserError(f"one-shot matching on {dataset} needs at least {needed} classes with >= {min_per_class} "
                        f"spectra (for {MIN_CLASSES['train']} training, {MIN_CLASSES['validation']} validation and "
                        f"{MIN_CLASSES['test']} test classes at fractions {list(fractions)}); it has {len(eligible)}")
    n_train, n_val, n_test = split_sizes(len(eligible), fractions)
    small = np.setdiff1d(np.unique(labels), eligible)
    small_items = np.flatnonzero(np.isin(labels, small)).astype(np.int64)
    distractor_items = small_items if distractors else np.zeros(0, np.int64)
    partitions = []
    for number in range(1, n_partitions + 1):
        rng = np.random.default_rng([seed, number])
        classes = rng.permutation(eligible)
        train_c = np.sort(classes[:n_train])
        val_c = np.sort(classes[n_train:n_train + n_val])
        test_c = np.sort(classes[n_train + n_val:])
        refs, queries = [], []
        for c in test_c:
            members = np.flatnonzero(labels == c)
            pick = rng.integers(len(members))
            refs.append(members[pick])
            queries.extend(np.delete(members, pick))
        partitions.append(Partition(
            number=number, train_classes=train_c, val_classes=val_c, test_classes=test_c,
            train_index=np.flatnonzero(np.isin(labels, train_c)), val_index=np.flatnonzero(np.isin(labels, val_c)),
            reference_index=np.concatenate([np.array(refs, np.int64), distractor_items]).astype(np.int64),
            query_index=np.sort(np.array(queries, np.int64)),
            small_class_index=np.zeros(0, np.int64) if distractors else small_items))
    return partitions


def make_seen_partitions(labels: np.ndarray, n_partitions: int, seed: int, *, validation_fraction: float = 0.1,
                         min_per_class: int = 2, dataset: str = "the data set") -> list[Partition]:
    """Partitions for matching classes seen in training (Liu et al. §3.2, the protocol of their CNN
    paper): of every training class one random item is held out as a test query; the class's other
    items are both training items and references. A ``validation_fraction`` of the classes is held
    out whole for early stopping (as in the unseen-class protocol); test classes = training classes.
    Partition p is seeded by (seed, p)."""
    labels = np.asarray(labels)
    if not isinstance(n_partitions, int) or n_partitions < 1:
        raise UserError(f"partitions must be a positive integer, got {n_partitions!r}")
    eligible = eligible_classes(labels, max(min_per_class, 2))
    n_val = int(round(validation_fraction * len(eligible))) if validation_fraction > 0 else 0
    if validation_fraction > 0:
        n_val = max(n_val, MIN_CLASSES["validation"])
    if len(eligible) - n_val < MIN_CLASSES["train"]:
        raise UserError(f"seen-class matching on {dataset} needs at least {n_val + MIN_CLASSES['train']} classes with "
                        f">= {max(min_per_class, 2)} items; it has {len(eligible)}")
    partitions = []
    for number in range(1, n_partitions + 1):
        rng = np.random.default_rng([seed, number, 2])  # its own stream: not the unseen-class partitions' draws
        classes = rng.permutation(eligible)
        val_c, train_c = np.sort(classes[:n_val]), np.sort(classes[n_val:])
        queries = [rng.choice(np.flatnonzero(labels == c)) for c in train_c]
        train_items = np.setdiff1d(np.flatnonzero(np.isin(labels, train_c)), queries)
        partitions.append(Partition(
            number=number, train_classes=train_c, val_classes=val_c, test_classes=train_c,
            train_index=train_items, val_index=np.flatnonzero(np.isin(labels, val_c)),
            reference_index=train_items, query_index=np.sort(np.array(queries, np.int64)),
            small_class_index=np.flatnonzero(~np.isin(labels, eligible)).astype(np.int64)))
    return partitions


def class_validation_split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(training items, validation items): a ``fraction`` of the classes with two or more items (at
    least two classes) held out whole, for early stopping on classes not trained on. With fewer than
    six such classes nothing is held out (training would lose too much)."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= 2]
    n_val = max(2, int(round(fraction * len(eligible)))) if len(eligible) >= 6 and fraction > 0 else 0
    held_out = rng.permutation(eligible)[:n_val]
    mask = np.isin(labels, held_out)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def stratified_folds(labels: np.ndarray, n_splits: int, seed: int, where: str = "", class_names=None) -> list:
    """Stratified, shuffled (seeded) k-fold split as (train, test) index pairs."""
    counts = np.bincount(labels)
    if counts.min() < n_splits:
        worst = int(np.argmin(counts))
        name = class_names[worst] if class_names else worst
        raise UserError(f"{where}: class {name!r} has {counts[worst]} images, fewer than the {n_splits} folds "
                        "of the protocol: add images or give Fold<k> folders")
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(labels)), labels)]
