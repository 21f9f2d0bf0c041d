"""DEEPER's per-channel DCT reduction, as matrix products (runs on the embedding device)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import torch

DCT_KEEP = 9  # the paper keeps the top-left 9 x 9 coefficients of each channel


@lru_cache(maxsize=64)
def dct_matrix(n: int, keep: int) -> np.ndarray:
    """Rows of the orthonormal DCT-II matrix D (n x n) for the first ``keep`` coefficients."""
    return scipy.fft.dct(np.eye(n), type=2, norm="ortho", axis=0)[:keep]


def dct_reduce(activations: torch.Tensor, keep: int = DCT_KEEP) -> torch.Tensor:
    """Per-channel orthonormal DCT-II, top-left min(keep, h) x min(keep, w) block, flattened.

    ``activations`` is (B, C, H, W) or (B, C, L); the result is (B, C·h'·w') or (B, C·l'),
    equal to ``scipy.fft.dctn(a, norm="ortho", axes=spatial)`` cropped and flattened.
    """
    x = activations.float()
    if x.dim() == 3:
        d = torch.as_tensor(dct_matrix(x.shape[-1], min(keep, x.shape[-1])), dtype=x.dtype, device=x.device)
        return (x @ d.T).flatten(1)
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W) or (B, C, L) activations, got shape {tuple(x.shape)}")
    dh = torch.as_tensor(dct_matrix(x.shape[-2], min(keep, x.shape[-2])), dtype=x.dtype, device=x.device)
    dw = torch.as_tensor(dct_matrix(x.shape[-1], min(keep, x.shape[-1])), dtype=x.dtype, device=x.device)
    return (dh @ x @ dw.T).flatten(1)
