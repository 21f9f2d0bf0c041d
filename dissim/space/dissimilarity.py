"""FULLY and DEEPER dissimilarity transformers (scikit-learn contract, arrays in and out).

Both are fitted on the prototypes' precomputed representations and transform the images'
precomputed representations: no network runs here, so every image is embedded only once.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics.pairwise import cosine_distances


def _tensor(x, device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class FullyDissimilarity(TransformerMixin, BaseEstimator):
    """Feature j of image x = ``pair_fn(F(x), F(p_j))`` for every prototype p_j.

    ``pair_fn(fx, fp) -> (N, P)`` is the trained loss's FULLY function (the Siamese head's
    similarity for BCE, the Euclidean distance for triplet); it runs on ``device``.
    """

    def __init__(self, pair_fn=None, device="cpu"):
        self.pair_fn = pair_fn
        self.device = device

    def fit(self, prototype_embeddings, y=None):
        self.prototypes_ = _tensor(prototype_embeddings, self.device)
        return self

    @torch.no_grad()
    def transform(self, embeddings) -> np.ndarray:
        return _numpy(self.pair_fn(_tensor(embeddings, self.device), self.prototypes_).float())


class DeeperDissimilarity(TransformerMixin, BaseEstimator):
    """Feature j of image x = cosine distance (1 − cos) between DCT-reduced DEEPER vectors of x and p_j."""

    def fit(self, prototype_vectors, y=None):
        self.prototypes_ = _numpy(prototype_vectors).astype(np.float64)
        return self

    def transform(self, vectors) -> np.ndarray:
        return cosine_distances(_numpy(vectors).astype(np.float64), self.prototypes_).astype(np.float32)
