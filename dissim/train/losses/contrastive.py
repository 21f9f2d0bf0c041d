"""The contrastive loss of the open-set Siamese-CNN (EMIS identification, J. Electron. Test. 2023,
eqs. (7)-(10), (19)-(22)).

Targets come from :class:`~dissim.train.samplers.LabelledPairSampler`: per pair (same class, class
of the first item, class of the second). ŷ = ‖f1 − f2‖₂; y = 1 for a different-class pair.

``contrastive``: L_SM = 1/(2N) Σ [(1 − y)·ŷ² + y·max(η − ŷ, 0)²] (eq. 21); with cross-entropy
terms it is ``contrastive-ce`` (:mod:`.contrastive_ce`).

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

from .distances import all_pairs_euclidean
from .registry import check_non_negative, register_loss


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
    summary = "contrastive loss (margin η, Euclidean)"

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
