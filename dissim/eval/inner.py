"""Inner cross-validation on a training fold: what chooses parameters (C, gamma, fusion weights)
without ever reading the test fold."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..errors import UserError
from .fusion import class_scores

INNER_FOLDS = 3


def inner_folds(y: np.ndarray, seed: int, what: str | None, folds: int = INNER_FOLDS) -> StratifiedKFold | None:
    """Stratified, shuffled folds of the training labels ``y``: ``folds`` of them, fewer when a class
    has fewer items. When a class has a single training item there are none: None, or, where
    ``what`` names who needs them (e.g. "raw-svm-tuned"), an error that says so."""
    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    if smallest < 2:
        if what is None:
            return None
        raise UserError(f"{what} needs at least two training items of every class for its inner "
                        "cross-validation")
    return StratifiedKFold(min(folds, smallest), shuffle=True, random_state=seed)


def out_of_fold_scores(estimator, X: np.ndarray, y: np.ndarray, cv: StratifiedKFold,
                       method: str = "decision_function") -> np.ndarray:
    """(n, classes) scores of the training items, each from a clone of ``estimator`` fitted on the
    other inner folds (``cross_val_predict``)."""
    return class_scores(cross_val_predict(estimator, X, y, cv=cv, method=method))
