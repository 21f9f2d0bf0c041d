"""Embed a set of images once: FULLY embeddings and DEEPER (DCT-reduced) vectors in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..train.loop import autocast_for, to_input
from .dct import DCT_KEEP, dct_reduce


@dataclass
class Embeddings:
    """Per image: ``fully`` = σ(backbone(x)) (N, D); ``deeper`` = DCT-reduced tap (N, M) or None."""

    fully: torch.Tensor
    deeper: torch.Tensor | None


@torch.no_grad()
def embed(backbone, images: np.ndarray | torch.Tensor, *, device: torch.device, batch_size: int = 256,
          deeper: bool = True, keep: int = DCT_KEEP) -> Embeddings:
    """Run every image through ``backbone`` exactly once (eval mode), in batches.

    Returns tensors on ``device``; with ``deeper`` the DEEPER layer's activations of the same
    pass are DCT-reduced per channel on the fly (only the reduced vectors are kept).
    """
    backbone.eval()
    images = torch.as_tensor(images)
    fully, reduced = [], []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size], device)
        with autocast_for(device):
            if deeper:
                out, tap = backbone.forward_with_tap(x)
                reduced.append(dct_reduce(tap.float(), keep))
            else:
                out = backbone(x)
        fully.append(torch.sigmoid(out.float()))
    return Embeddings(torch.cat(fully), torch.cat(reduced) if deeper else None)
