"""Binary cross-entropy on the Siamese head's similarity of a pair (the paper's "Cross" loss)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nets.heads import PairHead
from .registry import register_loss


@register_loss("bce")
class BCEPairLoss(nn.Module):
    """Binary cross-entropy on the head's similarity of a pair (target 1 = same class).

    As the authors' ``modelGradients.m``: Y = σ(w·|F1 − F2| + b), loss summed over the batch and
    divided by its size. Computed from the logit for numerical stability (the authors clip Y).
    FULLY is the head's similarity σ(w·|F(x) − F(p)| + b), used as is.
    """

    arity = 2
    default_sampler = "class-balanced-pairs"
    profile_options: dict[str, str] = {}
    summary = "weighted L1 + sigmoid head, BCE"  # for tables; {option} fields come from profile_options
    curve_label = "binary cross-entropy"  # what its training curves plot (other losses: "loss")

    def __init__(self, embedding_dim: int, head_init: str = "narrow-normal"):
        super().__init__()
        self.head = PairHead(embedding_dim, head_init)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self.head(f1, f2), target)

    def pair_logits(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return self.head(f1, f2)

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return self.head.all_pairs(fx, fp)

    def similarity(self, fx: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        return self.head.all_pairs(fx, fr)
