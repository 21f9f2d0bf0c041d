"""Class-wise k-means prototypes (the authors' supervised ``clustering.m``)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


class ClassWiseKMeans(BaseEstimator):
    """k prototypes per class: k-means++ (one run, at most 100 iterations, as MATLAB's defaults)
    on the flattened preprocessed pixels of each class's training images.

    After ``fit``: ``prototypes_`` (k·C, *image shape) float32 images, class 1's k centroids first,
    and ``prototype_labels_`` (k·C,).
    """

    def __init__(self, k: int = 15, random_state=None, max_iter: int = 100):
        self.k = k
        self.random_state = random_state
        self.max_iter = max_iter

    def fit(self, images: np.ndarray, labels: np.ndarray) -> "ClassWiseKMeans":
        images, labels = np.asarray(images), np.asarray(labels)
        rng = np.random.RandomState(self.random_state) if not isinstance(self.random_state, np.random.RandomState) \
            else self.random_state
        self.classes_ = np.unique(labels)
        prototypes, proto_labels = [], []
        for cls in self.classes_:
            members = images[labels == cls].reshape(int(np.sum(labels == cls)), -1).astype(np.float32)
            if len(members) < self.k:
                raise ValueError(f"class {cls} has {len(members)} images, fewer than k = {self.k} prototypes")
            km = KMeans(n_clusters=self.k, init="k-means++", n_init=1, max_iter=self.max_iter,
                        random_state=rng.randint(np.iinfo(np.int32).max))
            # One thread: k-means' OpenMP pool contends with torch's (both spin-wait), which made
            # it 50x slower beside a torch model; these per-class problems are small anyway.
            with threadpool_limits(limits=1):
                km.fit(members)
            prototypes.append(km.cluster_centers_.astype(np.float32))
            proto_labels.append(np.full(self.k, cls))
        self.prototypes_ = np.concatenate(prototypes).reshape(-1, *images.shape[1:])
        self.prototype_labels_ = np.concatenate(proto_labels)
        return self
