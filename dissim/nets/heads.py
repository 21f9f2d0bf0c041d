"""The Siamese head: similarity of two embeddings from their weighted absolute difference."""

from __future__ import annotations

import torch
from torch import nn

from .backbone import NARROW_NORMAL_STD, he_normal_

HEAD_INITS = ("narrow-normal", "he")


class PairHead(nn.Module):
    """logit(F1, F2) = w · |F1 − F2| + b (an FC layer from the L1 distance to one unit); the
    similarity is its sigmoid (1 = same class).

    ``init="narrow-normal"``: w, b ~ N(0, 0.01), as Nanni et al.'s code (MATLAB example);
    ``"he"``: w ~ N(0, 2/D), b ~ N(0.5, 2/D), as Borsani 2023.
    """

    def __init__(self, embedding_dim: int, init: str = "narrow-normal"):
        super().__init__()
        if init not in HEAD_INITS:
            raise ValueError(f"head init must be one of {HEAD_INITS}, got {init!r}")
        self.weight = nn.Parameter(torch.randn(embedding_dim) * NARROW_NORMAL_STD)
        self.bias = nn.Parameter(torch.randn(()) * NARROW_NORMAL_STD)
        if init == "he":
            with torch.no_grad():
                he_normal_(self)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return (f1 - f2).abs() @ self.weight + self.bias

    def all_pairs(self, fx: torch.Tensor, fp: torch.Tensor, max_elements: int = 1 << 24) -> torch.Tensor:
        """Similarity sigmoid(head(x_i, p_j)) for every row of ``fx`` and of ``fp``: (N, P).

        Evaluated in row chunks so that no more than ``max_elements`` differences are held at once.
        """
        rows = max(1, max_elements // max(1, fp.shape[0] * fp.shape[1]))
        out = [torch.sigmoid(self(fx[i:i + rows, None, :], fp[None, :, :])) for i in range(0, fx.shape[0], rows)]
        return torch.cat(out) if out else fx.new_zeros((0, fp.shape[0]))
