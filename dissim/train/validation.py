"""Validation during training, on held-out items (classes disjoint from the training ones for
one-shot matching): the pair loss of a fixed balanced pair set, and how well the similarity ranks.

- ranking: the leave-one-out nearest-neighbour accuracy of the validation items under the loss's
  similarity (every item against all the others), the task a matching network serves;
- pair loss / accuracy: binary cross-entropy (and accuracy at logit 0) of a fixed set of pairs,
  every same-class pair (at most ``MAX_VALIDATION_PAIRS``) and as many different-class pairs, drawn
  once; only for losses that give pair logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MAX_VALIDATION_PAIRS = 4000  # per kind (same / different); more adds time, not information
EARLY_STOPPING = ("ranking", "loss")


def validation_pairs(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, target): every same-class pair (at most MAX_VALIDATION_PAIRS, drawn) and as
    many distinct different-class pairs, drawn without replacement."""
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    pos = np.flatnonzero(same)
    neg = np.flatnonzero(~same)
    n = min(len(pos), len(neg), MAX_VALIDATION_PAIRS)
    if n == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32)
    pos = rng.choice(pos, size=n, replace=False)
    neg = rng.choice(neg, size=n, replace=False)
    chosen = np.concatenate([pos, neg])
    target = np.concatenate([np.ones(n), np.zeros(n)]).astype(np.float32)
    return i[chosen], j[chosen], target


class Validator:
    """Scores a twin and its loss on validation items; ``usable`` is False when there is nothing to score."""

    def __init__(self, inputs, labels: np.ndarray, rng: np.random.Generator, batch_size: int = 256):
        self.inputs = torch.as_tensor(np.asarray(inputs))
        self.labels = np.asarray(labels)
        self.batch_size = batch_size
        self.usable = len(np.unique(self.labels)) >= 2
        if self.usable:
            self.first, self.second, self.target = validation_pairs(self.labels, rng)
            self.usable = len(self.target) > 0

    @torch.no_grad()
    def score(self, net, loss) -> tuple[float, float, float]:
        """(pair loss, pair accuracy, ranking accuracy); the pair values are NaN for losses without pair logits."""
        features, _ = net.embed(self.inputs, batch_size=self.batch_size)
        pair_loss = pair_accuracy = math.nan
        if hasattr(loss, "pair_logits"):
            logits = loss.pair_logits(features[torch.as_tensor(self.first)], features[torch.as_tensor(self.second)])
            target = torch.as_tensor(self.target, device=logits.device)
            pair_loss = F.binary_cross_entropy_with_logits(logits, target).item()
            pair_accuracy = ((logits > 0).float() == target).float().mean().item()
        similarity = loss.similarity(features, features).float().cpu().numpy()
        np.fill_diagonal(similarity, -np.inf)
        labels = self.labels
        has_mate = np.array([np.sum(labels == c) > 1 for c in labels])
        nearest = labels[np.argmax(similarity, axis=1)]
        ranking = float(np.mean(nearest[has_mate] == labels[has_mate])) if has_mate.any() else 0.0
        return pair_loss, pair_accuracy, ranking
