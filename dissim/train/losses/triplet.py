"""``triplet``: anchors nearer their positives than their negatives, on drawn triplets (the paper's
"Triplet"); on the hardest ones inside a batch it is ``batch-hard`` (:mod:`.batch_hard`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .distances import all_pairs_euclidean, euclidean
from .registry import check_non_negative, register_loss


@register_loss("triplet")
class TripletLoss(nn.Module):
    """max(‖A − P‖₂ − ‖A − N‖₂ + margin, 0), averaged over the batch; no head.

    FULLY is the Euclidean distance sqrt(Σ(F(x) − F(p))² + 1e-6) (the authors' repository README);
    the matching similarity is its negative.
    """

    arity = 3
    default_sampler = "class-balanced-triplets"
    profile_options = {"margin": "triplet_margin"}
    summary = "triplet loss (margin {margin:g}, Euclidean)"

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
