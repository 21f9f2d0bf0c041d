"""The Euclidean distances the triplet and contrastive losses compare features by."""

from __future__ import annotations

import torch


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sqrt(Σ(a − b)² + 1e-6) along the last axis (the authors' triplet distance)."""
    return torch.sqrt(((a - b) ** 2).sum(-1) + 1e-6)


def all_pairs_euclidean(fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """:func:`euclidean` between every row of ``fx`` and of ``fp``: (N, P), float32.

    Expanded as |x|² − 2x·p + |p|² in float64: in float32 the cancellation for nearly equal
    features (saturated sigmoids) is of the order of the distances themselves, and it depends on
    how the product is blocked, so an item's features would change with the batch it came in.
    """
    x, p = fx.double(), fp.double()
    sq = (x * x).sum(1, keepdim=True) - 2 * x @ p.T + (p * p).sum(1)
    return torch.sqrt(sq.clamp_min(0) + 1e-6).float()
