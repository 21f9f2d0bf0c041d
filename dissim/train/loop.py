"""The Siamese training loop: sample, embed, loss, step; no host syncs in the hot loop."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UserError

_PROGRESS_EVERY = 10  # iterations between progress-bar loss updates (each one syncs the device)


@dataclass
class TrainResult:
    """Loss per iteration and wall time of one training run."""

    losses: np.ndarray
    seconds: float


def autocast_for(device: torch.device):
    """bfloat16 autocast on CUDA (the fast path); plain float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Raw 0-255 values as float32 (the authors do not normalise), channels-last on CUDA."""
    x = images.to(device, non_blocking=True).float()
    if device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def train_siamese(backbone: torch.nn.Module, loss: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  images: torch.Tensor, labels: np.ndarray, *, iterations: int, batch_size: int,
                  rng: np.random.Generator, progress: bool = True, desc: str = "train") -> TrainResult:
    """Train ``backbone`` (and the loss's own parameters) on pairs or triplets of ``images``.

    ``images`` is the (N, C, …) uint8 training set, already on the training device; each
    iteration draws ``batch_size`` pairs/triplets from ``loss.make_sampler`` and the embedding of
    every image of the batch is F = σ(backbone(x)), computed in one forward pass.
    """
    device = images.device
    sampler = loss.make_sampler(labels, rng)
    backbone.train()
    loss.train()
    history = torch.zeros(iterations, device=device)
    start = time.perf_counter()
    bar = tqdm(total=iterations, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        for it in range(iterations):
            groups, target = sampler.sample(batch_size)
            index = torch.from_numpy(np.concatenate(groups)).to(device, non_blocking=True)
            with autocast_for(device):
                embeddings = torch.sigmoid(backbone(to_input(images[index], device))).float()
            parts = embeddings.split([len(g) for g in groups])
            tgt = None if target is None else torch.from_numpy(target).to(device, non_blocking=True)
            value = loss(*parts, target=tgt)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            history[it] = value.detach()
            if progress and (it + 1) % _PROGRESS_EVERY == 0:
                bar.set_postfix(loss=f"{history[it].item():.4f}")
                bar.update(_PROGRESS_EVERY)
    except torch.cuda.OutOfMemoryError:
        raise UserError(f"out of GPU memory training {desc} with batch size {batch_size}: "
                        "lower --batch-size (the authors step down from 180 by 10)") from None
    finally:
        bar.close()
    losses = history.cpu().numpy()
    if not np.all(np.isfinite(losses)):
        bad = int(np.flatnonzero(~np.isfinite(losses))[0])
        raise UserError(f"training {desc} diverged: the loss became {losses[bad]} at iteration {bad + 1}; "
                        "lower the learning rate or use another optimizer")
    return TrainResult(losses=losses, seconds=time.perf_counter() - start)
