"""``batch-hard``: the triplet loss on the hardest triplets inside a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .distances import all_pairs_euclidean
from .registry import check_non_negative, register_loss


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
    summary = ("batch-hard triplet loss (margin {margin:g}, Euclidean; hardest positive and negative of each item "
               "in batches of 2 spectra per class)")

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
