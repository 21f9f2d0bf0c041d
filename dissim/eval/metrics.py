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


def pair_confusion(scores: np.ndarray, targets: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """(TP, TN, FP, FN) of "same" = score >= threshold against targets (1 = same class)."""
    same, truth = np.asarray(scores) >= threshold, np.asarray(targets).astype(bool)
    return (int(np.sum(same & truth)), int(np.sum(~same & ~truth)), int(np.sum(same & ~truth)),
            int(np.sum(~same & truth)))


def pair_accuracy_jaccard(scores: np.ndarray, targets: np.ndarray, threshold: float) -> tuple[float, float]:
    """Accuracy (TP + TN) / all and Jaccard TP / (TP + FN + FP), in %, at ``threshold`` (Borsani 2023 §1.8)."""
    tp, tn, fp, fn = pair_confusion(scores, targets, threshold)
    total = tp + tn + fp + fn
    return 100.0 * (tp + tn) / total if total else 0.0, 100.0 * tp / (tp + fn + fp) if tp + fn + fp else 0.0


def best_f1_threshold(scores: np.ndarray, targets: np.ndarray) -> float:
    """The threshold among the scores that maximises F1 = 2TP / (2TP + FP + FN) of "same" (ties: the
    highest such threshold)."""
    scores, targets = np.asarray(scores, np.float64), np.asarray(targets).astype(bool)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], targets[order]
    tp = np.cumsum(t)  # calling the first i+1 scores "same"
    fp = np.cumsum(~t)
    fn = t.sum() - tp
    last = np.r_[s[1:] != s[:-1], True]  # only cut between distinct scores
    f1 = np.where(last, 2 * tp / np.maximum(2 * tp + fp + fn, 1), -1.0)
    return float(s[int(np.argmax(f1))])
