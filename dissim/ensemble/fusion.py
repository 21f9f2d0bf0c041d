"""Score normalisation and sum-rule fusion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class ZScore(TransformerMixin, BaseEstimator):
    """One member's scores to mean 0, std 1, with the statistics of its training-fold scores.

    The mean and standard deviation are taken over the whole (n, classes) training score matrix,
    a single affine map per member: it keeps each member's own decisions and puts members on a
    common scale before they are summed (the paper: "normalized to mean 0 and standard deviation 1").
    """

    def fit(self, train_scores, y=None) -> "ZScore":
        train_scores = np.asarray(train_scores, dtype=np.float64)
        self.mean_ = float(train_scores.mean())
        self.std_ = float(train_scores.std()) or 1.0
        return self

    def transform(self, scores) -> np.ndarray:
        return (np.asarray(scores, dtype=np.float64) - self.mean_) / self.std_


def sum_rule(test_scores: Sequence[np.ndarray], train_scores: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of the members' z-scored test scores (each normalised by its own training scores)."""
    if not test_scores:
        raise ValueError("a fusion needs at least one member")
    return sum(ZScore().fit(tr).transform(te) for te, tr in zip(test_scores, train_scores, strict=True))


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in % of argmax over class scores (columns in class order)."""
    return 100.0 * float(np.mean(np.argmax(scores, axis=1) == np.asarray(labels)))
