"""The SVM member: an RBF SVC on dissimilarity vectors, scored per class."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import SVC


class SVMScorer(ClassifierMixin, BaseEstimator):
    """RBF ``SVC(C, gamma)`` with one decision score per class.

    The paper uses LIBSVM with C = 1000, γ = 0.1 and no feature scaling. Per-class scores are
    scikit-learn's one-vs-rest shape of the one-vs-one SVMs (votes plus a bounded confidence);
    with two classes the single decision value d becomes the columns (−d, d).
    """

    def __init__(self, C: float = 1000.0, gamma: float = 0.1):
        self.C = C
        self.gamma = gamma

    def fit(self, X, y) -> "SVMScorer":
        self.svc_ = SVC(C=self.C, gamma=self.gamma, kernel="rbf", decision_function_shape="ovr").fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        scores = self.svc_.decision_function(X)
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
        return scores

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]
