"""Triplet losses: anchors nearer their positives than their negatives, on drawn triplets (the
paper's "Triplet") or on the hardest ones inside a batch (batch-hard)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import check_non_negative, register_loss


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


@register_loss("triplet")
class TripletLoss(nn.Module):
    """max(‖A − P‖₂ − ‖A − N‖₂ + margin, 0), averaged over the batch; no head.

    FULLY is the Euclidean distance sqrt(Σ(F(x) − F(p))² + 1e-6) (the authors' repository README);
    the matching similarity is its negative.
    """

    arity = 3
    default_sampler = "class-balanced-triplets"
    profile_options = {"margin": "triplet_margin"}

    def __init__(self, embedding_dim: int, margin: float = 1.0):
        super().__init__()
        check_non_negative("triplet", margin=margin)
        self.margin = margin

    def forward(self, anchor, positive, negative, target=None) -> torch.Tensor:
        return F.relu(euclidean(anchor, positive) - euclidean(anchor, negative) + self.margin).mean()

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return all_pairs_euclidean(fx, fp)

    def similarity(self, fx: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        return -all_pairs_euclidean(fx, fr)


@register_loss("batch-hard")
class BatchHardTripletLoss(nn.Module):
    """The batch-hard triplet loss (Hermans, Beyer & Leibe 2017): every item of a batch is an
    anchor, with the farthest item of its class as positive and the nearest item of another class as
    negative (hard-negative mining inside the batch); max(d_ap − d_an + margin, 0) averaged over
    the anchors that have both. Trains on single items with their classes (``class-pairs``
    batches); matching uses the negative Euclidean distance."""

    arity = 1
    default_sampler = "class-pairs"
    profile_options = {"margin": "triplet_margin"}

    def __init__(self, embedding_dim: int, margin: float = 0.2):
        super().__init__()
        check_non_negative("batch-hard", margin=margin)
        self.margin = margin

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        distance = torch.sqrt(((features[:, None, :] - features[None, :, :]) ** 2).sum(-1) + 1e-12)
        same = target[:, None] == target[None, :]
        eye = torch.eye(len(target), dtype=torch.bool, device=target.device)
        positive = torch.where(same & ~eye, distance, torch.zeros_like(distance)).amax(1)
        negative = torch.where(~same, distance, torch.full_like(distance, torch.inf)).amin(1)
        valid = ((same & ~eye).any(1) & (~same).any(1)).float()  # no host sync: masked mean
        return (F.relu(positive - negative + self.margin) * valid).sum() / valid.sum().clamp_min(1)

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return all_pairs_euclidean(fx, fp)

    def similarity(self, fx: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        return -all_pairs_euclidean(fx, fr)
