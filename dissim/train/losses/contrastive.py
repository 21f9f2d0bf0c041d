"""Contrastive losses of the open-set Siamese-CNN (EMIS identification, J. Electron. Test. 2023,
eqs. (7)-(10), (19)-(22)).

Targets come from :class:`~dissim.train.samplers.LabelledPairSampler`: per pair (same class, class
of the first item, class of the second). ŷ = ‖f1 − f2‖₂; y = 1 for a different-class pair.

- ``contrastive``: L_SM = 1/(2N) Σ [(1 − y)·ŷ² + y·max(η − ŷ, 0)²] (eq. 21);
- ``contrastive-ce``: α1·L_SM + α2·mean[(1 − y)·Δ + y·max(ξ − Δ, 0)²] (eq. 22), Δ = CE₁ − CE₂ the
  difference of the two items' cross-entropies under a softmax classifier over the known classes
  (eqs. 19-20), plus ``ce_weight``·(CE₁ + CE₂)/2: the paper's network has the two softmax outputs
  among its trained outputs (eqs. 14-15); without them nothing in (22) makes the classifier right
  (its signed difference is even unbounded below). ``ce_weight = 0`` gives (22) alone.

The margin η is a number, or (``margin=None``) the largest distance between the class centres of
the training features (eq. 10), recomputed before every epoch and never below its value before
training: recomputed alone, it shrinks as features shrink, and the loss then has a trivial minimum
with every feature equal (η = 0 makes both terms 0; seen on coffee, known-class accuracy at chance).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import check_non_negative, register_loss
from .triplet import all_pairs_euclidean


def distance(f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """ŷ = ‖f1 − f2‖₂ per pair (a tiny floor keeps the gradient finite for identical features)."""
    return torch.sqrt(((f1 - f2) ** 2).sum(-1) + 1e-12)


def largest_centre_distance(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """η of eq. (10): max over class pairs of ‖μ_i − μ_j‖₂, μ the mean feature of a class."""
    classes = torch.unique(labels)
    centres = torch.stack([features[labels == c].mean(0) for c in classes])
    return torch.cdist(centres[None], centres[None])[0].max()


@register_loss("contrastive")
class ContrastiveLoss(nn.Module):
    """L_SM of eq. (21); FULLY and matching use the Euclidean distance of the features."""

    arity = 2
    default_sampler = "labelled-pairs"
    profile_options: dict[str, str] = {}

    def __init__(self, embedding_dim: int, margin: float | None = None, n_classes: int | None = None):
        super().__init__()
        check_non_negative("contrastive", margin=margin)
        self.margin = margin
        self.register_buffer("margin_value", torch.tensor(float(margin) if margin is not None else 0.0))
        self.register_buffer("initial_margin", torch.tensor(-1.0))

    @torch.no_grad()
    def prepare_epoch(self, net, data: torch.Tensor, labels) -> None:
        """Recompute η from the current features of the training items (when no fixed margin is set)."""
        if self.margin is None:
            features, _ = net.embed(data)
            codes = torch.as_tensor(np.unique(np.asarray(labels), return_inverse=True)[1], device=features.device)
            now = largest_centre_distance(features.float(), codes)
            if self.initial_margin < 0:
                self.initial_margin.copy_(now)
            self.margin_value.copy_(torch.maximum(now, self.initial_margin))

    def contrastive(self, f1: torch.Tensor, f2: torch.Tensor, different: torch.Tensor) -> torch.Tensor:
        y_hat = distance(f1, f2)
        terms = (1 - different) * y_hat ** 2 + different * F.relu(self.margin_value - y_hat) ** 2
        return terms.sum() / (2 * len(terms))

    def forward(self, f1: torch.Tensor, f2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.contrastive(f1, f2, 1 - target[:, 0].float())

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return all_pairs_euclidean(fx, fp)

    def similarity(self, fx: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        return -all_pairs_euclidean(fx, fr)


@register_loss("contrastive-ce")
class ContrastiveCELoss(ContrastiveLoss):
    """Eq. (22): α1·L_SM + α2·(cross-entropy difference term), plus ``ce_weight`` times the mean
    cross-entropy of both items (see the module docstring); a softmax classifier over ``n_classes``."""

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


@register_loss("cross-entropy")
class CrossEntropyLoss(nn.Module):
    """A plain softmax classifier over ``n_classes`` on single items (the closed-set CNN)."""

    arity = 1
    default_sampler = "items"
    profile_options: dict[str, str] = {}

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
