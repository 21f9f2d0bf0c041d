"""Class-wise k-means prototypes (the authors' supervised ``clustering.m``)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_X_y
from threadpoolctl import threadpool_limits

from ..train.params import at_least


def check_k_per_class(classes, counts, k: int, *, items: str = "items", advice: str = "", error=ValueError) -> None:
    """k prototypes per class need k items of every class: ``error`` naming the smallest class of
    ``classes`` (``counts`` items each) when it has fewer, its message ending in ``advice`` (where
    ``{count}`` is that class's count)."""
    worst = int(np.argmin(counts))
    if counts[worst] < k:
        name = classes[worst].item() if isinstance(classes[worst], np.generic) else classes[worst]
        raise error(f"class {name!r} has {counts[worst]} {items}, fewer than the {k} prototypes per class asked"
                    + advice.format(count=counts[worst]))


class ClassWiseKMeans(BaseEstimator):
    """k prototypes per class: k-means++ (one run, at most 100 iterations, as MATLAB's defaults)
    on the flattened inputs (preprocessed pixels, or spectra) of each class's training items.

    ``fit(X, y)`` takes X of any shape (n, ...); after it: ``prototypes_`` (k·C, ...) float32, class
    ``classes_[0]``'s k centroids first, and ``prototype_labels_`` (k·C,).
    """

    _parameter_constraints = {"k": [at_least(1)], "random_state": ["random_state"], "max_iter": [at_least(1)]}

    def __init__(self, k: int = 15, random_state=None, max_iter: int = 100):
        self.k = k
        self.random_state = random_state
        self.max_iter = max_iter

    def fit(self, X, y) -> "ClassWiseKMeans":
        self._validate_params()
        X, y = check_X_y(X, y, dtype=None, allow_nd=True)  # any numeric dtype, kept: k-means reads float32
        if X.ndim == 2:
            self.n_features_in_ = X.shape[1]
        rng = check_random_state(self.random_state)
        self.classes_, counts = np.unique(y, return_counts=True)
        check_k_per_class(self.classes_, counts, self.k)
        prototypes, proto_labels = [], []
        for cls in self.classes_:
            members = X[y == cls].reshape(int(np.sum(y == cls)), -1).astype(np.float32)
            km = KMeans(n_clusters=self.k, init="k-means++", n_init=1, max_iter=self.max_iter,
                        random_state=rng.randint(np.iinfo(np.int32).max))
            # One thread: k-means' OpenMP pool contends with torch's (both spin-wait), which made
            # it 50x slower beside a torch model; these per-class problems are small anyway.
            with threadpool_limits(limits=1):
                km.fit(members)
            prototypes.append(km.cluster_centers_.astype(np.float32))
            proto_labels.append(np.full(self.k, cls))
        self.prototypes_ = np.concatenate(prototypes).reshape(-1, *X.shape[1:])
        self.prototype_labels_ = np.concatenate(proto_labels)
        return self
