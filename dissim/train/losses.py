"""Siamese training objectives, each with its sampler and its FULLY dissimilarity.

A loss is a small ``nn.Module`` (it may own learnable parameters, like the BCE head) with
- ``make_sampler(labels, rng)``: the pair or triplet sampler it trains on;
- ``forward(*embeddings, target=None)``: the batch loss from sigmoid embeddings of each group;
- ``fully(fx, fp)``: the FULLY feature between every image embedding and prototype embedding.
Register new ones with ``@register_loss("name")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..nets.heads import PairHead
from .samplers import ClassBalancedPairSampler, ClassBalancedTripletSampler

_LOSSES: dict[str, type[nn.Module]] = {}


def register_loss(name: str):
    """Class decorator registering a Siamese loss under ``name``."""

    def decorate(cls):
        if name in _LOSSES and _LOSSES[name] is not cls:
            raise ValueError(f"loss {name!r} is already registered")
        _LOSSES[name] = cls
        cls.name = name
        return cls

    return decorate


def list_losses() -> list[str]:
    return sorted(_LOSSES)


def check_loss(name: str) -> str:
    if name not in _LOSSES:
        raise UserError(f"unknown loss {name!r} (--losses): known losses are {', '.join(list_losses())}")
    return name


def create_loss(name: str, embedding_dim: int, **options) -> nn.Module:
    """An instance of loss ``name`` for embeddings of ``embedding_dim``."""
    return _LOSSES[check_loss(name)](embedding_dim, **options)


@register_loss("bce")
class BCEPairLoss(nn.Module):
    """Binary cross-entropy on the head's similarity of a pair (target 1 = same class).

    As the authors' ``modelGradients.m``: Y = σ(w·|F1 − F2| + b), loss summed over the batch and
    divided by its size. Computed from the logit for numerical stability (the authors clip Y).
    FULLY is the head's similarity σ(w·|F(x) − F(p)| + b), used as is.
    """

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.head = PairHead(embedding_dim)

    def make_sampler(self, labels, rng):
        return ClassBalancedPairSampler(labels, rng)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self.head(f1, f2), target)

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        return self.head.all_pairs(fx, fp)


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sqrt(Σ(a − b)² + 1e-6) along the last axis (the authors' triplet distance)."""
    return torch.sqrt(((a - b) ** 2).sum(-1) + 1e-6)


@register_loss("triplet")
class TripletLoss(nn.Module):
    """max(‖A − P‖₂ − ‖A − N‖₂ + margin, 0), averaged over the batch; no head.

    FULLY is the Euclidean distance sqrt(Σ(F(x) − F(p))² + 1e-6) (the authors' repository README).
    """

    def __init__(self, embedding_dim: int, margin: float = 1.0):
        super().__init__()
        self.margin = margin

    def make_sampler(self, labels, rng):
        return ClassBalancedTripletSampler(labels, rng)

    def forward(self, anchor, positive, negative, target=None) -> torch.Tensor:
        return F.relu(euclidean(anchor, positive) - euclidean(anchor, negative) + self.margin).mean()

    def fully(self, fx: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        sq = (fx * fx).sum(1, keepdim=True) - 2 * fx @ fp.T + (fp * fp).sum(1)
        return torch.sqrt(sq.clamp_min(0) + 1e-6)
