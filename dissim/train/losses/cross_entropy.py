"""``cross-entropy``: a plain softmax classifier on single items (the closed-set CNN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .distances import all_pairs_euclidean
from .registry import register_loss


@register_loss("cross-entropy")
class CrossEntropyLoss(nn.Module):
    """A plain softmax classifier over ``n_classes`` on single items (the closed-set CNN)."""

    arity = 1
    default_sampler = "items"
    profile_options: dict[str, str] = {}
    summary = "cross-entropy of a softmax layer over the training classes"

    def __init__(self, embedding_dim: int, n_classes: int):
        super().__init__()
        self.classifier = nn.Linear(embedding_dim, n_classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(features), target.long())

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return all_pairs_euclidean(fx, fp)

    def similarity(self, fx: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        return -all_pairs_euclidean(fx, fr)
