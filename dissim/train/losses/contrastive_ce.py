"""``contrastive-ce``: the contrastive loss with cross-entropy terms of the open-set Siamese-CNN (EMIS
identification, J. Electron. Test. 2023, eq. (22)).

α1·L_SM + α2·mean[(1 − y)·Δ + y·max(ξ − Δ, 0)²], Δ = CE₁ − CE₂ the difference of the two items'
cross-entropies under a softmax classifier over the known classes (eqs. 19-20), plus
``ce_weight``·(CE₁ + CE₂)/2: the paper's network has the two softmax outputs among its trained
outputs (eqs. 14-15); without them nothing in (22) makes the classifier right (its signed difference
is even unbounded below). ``ce_weight = 0`` gives (22) alone. L_SM, y, ŷ and the margin η are those
of :mod:`.contrastive`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .contrastive import ContrastiveLoss
from .registry import check_non_negative, register_loss


@register_loss("contrastive-ce")
class ContrastiveCELoss(ContrastiveLoss):
    """Eq. (22): α1·L_SM + α2·(cross-entropy difference term), plus ``ce_weight`` times the mean
    cross-entropy of both items (see the module docstring); a softmax classifier over ``n_classes``."""

    summary = "contrastive loss (margin η, Euclidean) with cross-entropy terms of a softmax over the known classes"

    def __init__(self, embedding_dim: int, n_classes: int, margin: float | None = None, alpha1: float = 1.0,
                 alpha2: float = 1.0, ce_margin: float = 2.5, ce_weight: float = 1.0):
        super().__init__(embedding_dim, margin)
        check_non_negative("contrastive-ce", alpha1=alpha1, alpha2=alpha2, ce_margin=ce_margin, ce_weight=ce_weight)
        self.classifier = nn.Linear(embedding_dim, n_classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)
        self.alpha1, self.alpha2, self.ce_margin, self.ce_weight = alpha1, alpha2, ce_margin, ce_weight

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        different = 1 - target[:, 0].float()
        ce1 = F.cross_entropy(self.logits(f1), target[:, 1].long(), reduction="none")
        ce2 = F.cross_entropy(self.logits(f2), target[:, 2].long(), reduction="none")
        delta = ce1 - ce2
        difference = ((1 - different) * delta + different * F.relu(self.ce_margin - delta) ** 2).mean()
        loss = self.alpha1 * self.contrastive(f1, f2, different) + self.alpha2 * difference
        return loss + self.ce_weight * (ce1.mean() + ce2.mean()) / 2
