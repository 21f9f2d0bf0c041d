"""``nn-l2``: nearest neighbour by the Euclidean distance."""

from __future__ import annotations

import numpy as np

from .base import Unlearned
from .registry import MATCHERS


@MATCHERS.register("nn-l2")
class NearestL2(Unlearned):
    """Nearest neighbour by the Euclidean distance (similarity = −distance); learns nothing."""

    state_kind = "nn-l2"

    @staticmethod
    def compare(q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """−Euclidean distance between transformed queries (Q, D) and references (R, D)."""
        q, r = np.asarray(q, np.float64), np.asarray(r, np.float64)
        squared = (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]
        return -np.sqrt(np.maximum(squared, 0))
