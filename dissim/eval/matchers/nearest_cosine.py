"""``nn-cosine``: nearest neighbour by the cosine similarity."""

from __future__ import annotations

import numpy as np

from .base import Unlearned
from .registry import MATCHERS


@MATCHERS.register("nn-cosine")
class NearestCosine(Unlearned):
    """Nearest neighbour by the cosine similarity; learns nothing."""

    state_kind = "nn-cosine"

    @staticmethod
    def compare(q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Cosine similarity of transformed queries (Q, D) and references (R, D)."""
        q, r = np.asarray(q, np.float64), np.asarray(r, np.float64)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        return q @ r.T
