"""Metrics of predictions and of per-fold results."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in % of argmax over class scores (columns in class order)."""
    return 100.0 * float(np.mean(np.argmax(scores, axis=1) == np.asarray(labels)))


def accuracy_and_macro_f1(true: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(accuracy, macro-F1) in %, the F1 averaged over the classes present in ``true``."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    acc = 100.0 * float(np.mean(true == predicted))
    macro_f1 = 100.0 * float(f1_score(true, predicted, labels=np.unique(true), average="macro", zero_division=0))
    return acc, macro_f1


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of per-fold results."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
