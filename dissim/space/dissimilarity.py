"""FULLY and DEEPER dissimilarity transformers (scikit-learn contract, arrays in and out), on a
registry of spaces.

Both are fitted on the prototypes' precomputed representations and transform the items'
precomputed representations: no network runs here, so every item is embedded only once. Each
space declares which representation it reads (``source``: the twin's features, or the DEEPER
layer's DCT-reduced activations) and how it is built for a trained loss (``for_loss``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics.pairwise import cosine_distances
from sklearn.utils.validation import check_is_fitted, validate_data

from ..errors import UserError
from ..registry import Registry

SPACES = Registry("space")
PAIR_ELEMENTS = 2**27  # items x prototypes x features compared at once (512 MB of float32)


def _euclidean(fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    return torch.cdist(fx, fp)


def _rows(x, estimator, reset: bool) -> np.ndarray:
    """Validated 2-D float array (a torch tensor is taken as is, float32)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return validate_data(estimator, x, reset=reset, dtype=[np.float64, np.float32])


@SPACES.register("fully")
class FullyDissimilarity(TransformerMixin, BaseEstimator):
    """Feature j of item x = ``pair_fn(F(x), F(p_j))`` for every prototype p_j.

    ``pair_fn(fx, fp) -> (N, P)`` is the trained loss's FULLY function (the Siamese head's
    similarity for BCE, the Euclidean distance for triplet); ``None`` means the Euclidean distance.
    It runs on ``device`` in float32; the output is float32.
    """

    source = "features"
    _parameter_constraints = {"pair_fn": [callable, None], "device": [str, torch.device]}

    def __init__(self, pair_fn=None, device="cpu"):
        self.pair_fn = pair_fn
        self.device = device

    @classmethod
    def for_loss(cls, loss, device) -> "FullyDissimilarity":
        return cls(loss.fully, device=device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # compared in float32 on the device, whatever comes in
        return tags

    def fit(self, X, y=None):
        self._validate_params()
        prototypes = _rows(X, self, reset=True)
        self.prototypes_ = torch.as_tensor(prototypes, dtype=torch.float32, device=self.device)
        return self

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        if isinstance(X, torch.Tensor) and X.shape[-1] == self.n_features_in_:  # embeddings straight from the twin
            items = X.to(device=self.device, dtype=torch.float32)
        else:
            items = torch.as_tensor(_rows(X, self, reset=False), dtype=torch.float32, device=self.device)
        pair_fn = self.pair_fn or _euclidean
        prototypes = self.prototypes_
        rows = max(1, PAIR_ELEMENTS // max(1, prototypes.shape[0] * prototypes.shape[1]))
        try:
            return torch.cat([pair_fn(items[start:start + rows], prototypes).float()
                              for start in range(0, max(len(items), 1), rows)]).cpu().numpy()
        except torch.cuda.OutOfMemoryError:
            raise UserError(f"out of GPU memory comparing {len(items)} items with {len(prototypes)} prototypes "
                            "in the FULLY space: use fewer prototypes or --device cpu") from None


@SPACES.register("deeper")
class DeeperDissimilarity(TransformerMixin, BaseEstimator):
    """Feature j of item x = cosine distance (1 − cos) between DCT-reduced DEEPER vectors of x and p_j.

    Computed in float64; returned in the input's float dtype.
    """

    source = "deeper"
    _parameter_constraints: dict = {}

    @classmethod
    def for_loss(cls, loss, device) -> "DeeperDissimilarity":
        return cls()

    def fit(self, X, y=None):
        self.prototypes_ = _rows(X, self, reset=True).astype(np.float64)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        items = _rows(X, self, reset=False)
        return cosine_distances(items.astype(np.float64), self.prototypes_).astype(items.dtype, copy=False)


__all__ = ["DeeperDissimilarity", "FullyDissimilarity", "SPACES"]
