"""The one Siamese training loop: sample, embed, loss, step; no host syncs inside an epoch.

Every Siamese network of dissim trains here, whatever its twin (images or spectra), loss (pairs
or triplets), optimizer, sampler and budget. Training runs in *epochs* of ``steps_per_epoch``
batches; after each epoch the loop records the mean loss and the learning rate, steps the
learning-rate schedule, and (with a validator) scores the validation items and keeps the best
epoch's weights, stopping after ``patience`` epochs without improvement. An iteration budget is
one epoch of that many steps.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UserError
from ..nets import SiameseNet
from .validation import EARLY_STOPPING, Validator

_PROGRESS_EVERY = 10  # steps between progress-bar loss updates (each one syncs the device)


class OutOfMemory(UserError):
    """The device ran out of memory training with ``batch_size`` (a smaller batch may fit)."""

    def __init__(self, message: str, batch_size: int):
        super().__init__(message)
        self.batch_size = batch_size


@dataclass
class TrainHistory:
    """Loss per step; per epoch: mean training loss, learning rate and validation scores; the epoch kept."""

    step_loss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)  # of the validation pairs at logit 0
    val_ranking: list[float] = field(default_factory=list)  # leave-one-out nearest-neighbour accuracy
    lr: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; 0 = no validation (the last epoch is kept)
    stopped_early: bool = False
    batches_per_epoch: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary (without the per-step losses)."""
        values = asdict(self)
        values.pop("step_loss")
        return values


def fit(net: SiameseNet, loss: torch.nn.Module, optimizer: torch.optim.Optimizer, data: torch.Tensor,
        sampler, *, batch_size: int, epochs: int = 1, steps_per_epoch: int, labels=None, augment=None,
        validator: Validator | None = None, patience: int | None = None, early_stopping: str = "ranking",
        scheduler=None, progress: bool = False, desc: str = "train") -> TrainHistory:
    """Train ``net`` (the twin) and ``loss`` (and its own parameters, e.g. a head) in place.

    ``data`` holds the training inputs (raw images (N, C, H, W) or spectra (N, L)) on the training
    device; ``sampler.sample(batch_size)`` gives index groups (pairs or triplets) into it. The
    features of every input of a batch are computed in one forward pass of ``net``. A loss with
    ``prepare_epoch`` is given the net, ``data`` and ``labels`` before every epoch.
    """
    if sampler.arity != loss.arity:
        raise UserError(f"the sampler gives groups of {sampler.arity} but loss {getattr(loss, 'name', loss)!r} "
                        f"takes {loss.arity}: choose a sampler of its kind")
    if early_stopping not in EARLY_STOPPING:
        raise UserError(f"early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {early_stopping!r}")
    device = data.device
    validate = validator is not None and validator.usable
    history = TrainHistory(batches_per_epoch=steps_per_epoch)
    losses = torch.zeros(epochs * steps_per_epoch, device=device)
    scaler = torch.amp.GradScaler(device.type, enabled=net.compute.precision == "fp16")
    show_loss_every = _PROGRESS_EVERY if device.type == "cpu" else 0  # on a GPU, reading the loss syncs
    best_score, best_state, since_best, done = (-math.inf, -math.inf), None, 0, 0
    start = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    uses_items = augment is not None and getattr(augment, "uses_items", False)
    if uses_items:
        augment.prepare(data, labels)
    try:
        for epoch in range(1, epochs + 1):
            if hasattr(loss, "prepare_epoch"):
                loss.prepare_epoch(net, data, labels)
            net.train()
            loss.train()
            for index, sizes, tgt in epoch_batches(sampler, batch_size, steps_per_epoch, device):
                if augment is None:
                    x = data[index]
                else:  # the policy sees every side of the batch's pairs (triplets) at once
                    sides = index.split(sizes)
                    x = torch.cat(augment([data[side] for side in sides], items=sides) if uses_items
                                  else augment([data[side] for side in sides]))
                parts = net(x).split(sizes)
                value = loss(*parts, target=tgt)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(value).backward()
                scaler.step(optimizer)
                scaler.update()
                losses[done] = value.detach()
                done += 1
                if progress:
                    bar.update(1)
                    if show_loss_every and done % show_loss_every == 0:
                        bar.set_postfix(loss=f"{losses[done - 1].item():.4f}")
            epoch_losses = losses[done - steps_per_epoch:done]
            _check_finite(epoch_losses, done - steps_per_epoch, desc)
            history.train_loss.append(epoch_losses.mean().item())
            history.lr.append(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            if validate:
                val_loss, val_accuracy, val_ranking = validator.score(net, loss)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
                history.val_ranking.append(val_ranking)
                score = (val_ranking, -val_loss) if early_stopping == "ranking" else (-val_loss, val_ranking)
                if score > best_score:
                    best_score, since_best, history.best_epoch = score, 0, epoch
                    best_state = {"net": copy.deepcopy(net.state_dict()), "loss": copy.deepcopy(loss.state_dict())}
                else:
                    since_best += 1
                if patience is not None and since_best >= patience:
                    history.stopped_early = epoch < epochs
                    break
    except torch.cuda.OutOfMemoryError:
        raise OutOfMemory(f"out of GPU memory training {desc} with batch size {batch_size}: "
                          "lower --batch-size (the authors step down from 180 by 10)", batch_size) from None
    finally:
        bar.close()
    if best_state is not None:
        net.load_state_dict(best_state["net"])
        loss.load_state_dict(best_state["loss"])
    _check_parameters(net, loss, desc)
    net.eval()
    loss.eval()
    history.step_loss = losses[:done].cpu().numpy()
    history.seconds = time.perf_counter() - start
    return history


def epoch_batches(sampler, batch_size: int, steps: int, device: torch.device):
    """(indices, side sizes, targets) of each of an epoch's ``steps`` batches, on ``device``.

    The epoch's groups are drawn up front (the same draws, in the same order, as one ``sample``
    per step) and copied to the device in one transfer, from pinned memory on a GPU.
    """
    draws = [sampler.sample(batch_size) for _ in range(steps)]
    if not draws:
        return
    sizes = [[len(side) for side in groups] for groups, _ in draws]
    index = _to_device(np.concatenate([np.concatenate(groups) for groups, _ in draws]), device)
    index_ends = np.cumsum([sum(s) for s in sizes])
    if draws[0][1] is None:
        target, target_ends = None, None
    else:
        target = _to_device(np.concatenate([t for _, t in draws]), device)
        target_ends = np.cumsum([len(t) for _, t in draws])
    for step, step_sizes in enumerate(sizes):
        start = index_ends[step - 1] if step else 0
        tgt = None if target is None else target[(target_ends[step - 1] if step else 0):target_ends[step]]
        yield index[start:index_ends[step]], step_sizes, tgt


def _to_device(values: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(values))
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def _check_finite(losses: torch.Tensor, offset: int, desc: str) -> None:
    if not bool(torch.isfinite(losses).all()):
        values = losses.cpu().numpy()
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise UserError(f"training {desc} diverged: the loss became {values[bad]} at iteration {offset + bad + 1}; "
                        "lower the learning rate or use another optimizer")


def _check_parameters(net: torch.nn.Module, loss: torch.nn.Module, desc: str) -> None:
    """Weights that turned NaN or infinite on the last step must not reach the spaces."""
    params = [p for module in (net, loss) for p in module.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise UserError(f"training {desc} diverged: the network's weights are no longer finite; "
                        "lower the learning rate or use another optimizer")
