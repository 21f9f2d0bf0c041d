"""Training of the Siamese spectrum network as Liu et al. (§2.2-2.3).

- Pairs come from :class:`~dissim.train.samplers.BalancedBootstrapPairSampler`: an *epoch* is one
  bootstrap iteration of the paper, S_m positive and S_m negative training pairs drawn with
  replacement (S_m = the number of same-class training pairs), in mini-batches of ``batch_size``
  pairs (the paper's "30 iterations" are 30 such epochs).
- Binary cross-entropy on the head's logit; Adam; the learning rate halved every
  ``lr_halving_epochs`` epochs.
- Early stopping on validation pairs (classes disjoint from the training ones), after each epoch;
  the weights of the best epoch are kept and training stops after ``patience`` epochs without
  improvement. What "best" means (``early_stopping``):
  ``"ranking"`` (default): the leave-one-out nearest-neighbour accuracy of the validation spectra
  under the network's similarity (every validation spectrum against all the others, i.e. all
  validation pairs), ties broken by the lower pair loss; this is the task the network serves;
  ``"loss"``: the BCE on a fixed balanced set of validation pairs (all same-class pairs and as many
  different-class pairs, drawn once). On rruff-ir the pair loss keeps falling while the ranking of
  references gets worse (the head learns to tell easy random pairs apart), so "loss" keeps late,
  worse epochs.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import UserError
from ..train.samplers import BalancedBootstrapPairSampler
from .model import SiameseSpectra

EARLY_STOPPING = ("ranking", "loss")
MAX_VALIDATION_PAIRS = 4000  # per kind (same / different); more adds time, not information


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30
    batch_size: int = 32  # pairs per mini-batch (half positive, half negative)
    lr: float = 1e-3
    lr_halving_epochs: int = 10
    patience: int = 10
    betas: tuple[float, float] = (0.9, 0.999)
    augment: bool = False  # random shift, gain, sloped baseline and noise on every training spectrum
    early_stopping: str = "ranking"  # "ranking" (validation nearest-neighbour accuracy) or "loss" (pair BCE)

    def __post_init__(self):
        checks = {"epochs": self.epochs, "lr_halving_epochs": self.lr_halving_epochs, "patience": self.patience}
        for key, value in checks.items():
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{key} must be a positive integer, got {value!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 2 or self.batch_size % 2:
            raise UserError(f"batch size must be an even integer >= 2 (half same-class, half different-class "
                            f"pairs), got {self.batch_size!r}")
        if not self.lr > 0:
            raise UserError(f"lr must be positive, got {self.lr!r}")
        if self.early_stopping not in EARLY_STOPPING:
            raise UserError(f"early_stopping must be one of {', '.join(EARLY_STOPPING)}, got {self.early_stopping!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainHistory:
    """Per-epoch training loss, validation loss and pair accuracy, learning rate; the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)  # of the pairs at s = 0.5
    val_ranking: list[float] = field(default_factory=list)  # leave-one-out nearest-neighbour accuracy
    lr: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; 0 = no validation (the last epoch is kept)
    stopped_early: bool = False
    positive_pairs: int = 0
    batches_per_epoch: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


AUGMENT_SHIFT = 3  # points (12 cm^-1 on the rruff-ir grid)
AUGMENT_GAIN = 0.15
AUGMENT_SLOPE = 0.1
AUGMENT_NOISE = 0.01


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Spectra (B, L) shifted by a few points, scaled, tilted and noised, each at random."""
    b, length = x.shape
    g = dict(generator=generator, device="cpu")
    shift = torch.randint(-AUGMENT_SHIFT, AUGMENT_SHIFT + 1, (b, 1), **g).to(x.device)
    index = (torch.arange(length, device=x.device)[None, :] - shift).clamp(0, length - 1)
    x = x.gather(1, index)
    gain = 1 + AUGMENT_GAIN * (2 * torch.rand(b, 1, **g) - 1)
    slope = AUGMENT_SLOPE * (2 * torch.rand(b, 1, **g) - 1)
    ramp = torch.linspace(-0.5, 0.5, length)[None, :]
    noise = AUGMENT_NOISE * torch.randn(b, length, **g)
    return x * gain.to(x.device) + (slope * ramp + noise).to(x.device)


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


@torch.no_grad()
def validation_scores(model: SiameseSpectra, x: torch.Tensor, labels: np.ndarray, first: np.ndarray,
                      second: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(pair BCE, pair accuracy at s = 0.5, leave-one-out nearest-neighbour accuracy), each
    validation spectrum embedded once (eval mode)."""
    features = model.embed(x).to(model.device)
    logits = model.head(features[torch.as_tensor(first)], features[torch.as_tensor(second)])
    tgt = torch.as_tensor(target, device=logits.device)
    loss = F.binary_cross_entropy_with_logits(logits, tgt).item()
    accuracy = ((logits > 0).float() == tgt).float().mean().item()
    similarity = model.similarity(features, features).numpy()
    np.fill_diagonal(similarity, -np.inf)
    labels = np.asarray(labels)
    has_mate = np.array([np.sum(labels == c) > 1 for c in labels])
    nearest = labels[np.argmax(similarity, axis=1)]
    ranking = float(np.mean(nearest[has_mate] == labels[has_mate])) if has_mate.any() else 0.0
    return loss, accuracy, ranking


def train_siamese_spectra(model: SiameseSpectra, x_train: np.ndarray, y_train: np.ndarray,
                          x_val: np.ndarray | None, y_val: np.ndarray | None, settings: TrainSettings,
                          rng: np.random.Generator, progress: bool = False, desc: str = "siamese") -> TrainHistory:
    """Train ``model`` in place on preprocessed spectra (N, L) with class labels; returns the history."""
    start = time.perf_counter()
    device = model.device
    sampler = BalancedBootstrapPairSampler(y_train, rng)
    x_train_t = torch.as_tensor(np.asarray(x_train, dtype=np.float32), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=tuple(settings.betas))
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_halving_epochs, gamma=0.5)
    history = TrainHistory(positive_pairs=sampler.n_positive_pairs,
                           batches_per_epoch=sampler.batches_per_epoch(settings.batch_size))
    validate = x_val is not None and y_val is not None and len(np.unique(y_val)) >= 2
    if validate:
        x_val_t = torch.as_tensor(np.asarray(x_val, dtype=np.float32))
        v_first, v_second, v_target = validation_pairs(y_val, rng)
        validate = len(v_target) > 0
    best_score, best_state, since_best = (-math.inf, -math.inf), None, 0
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    bar = tqdm(total=settings.epochs, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        for epoch in range(1, settings.epochs + 1):
            model.train()
            losses = []
            for (first, second), target in sampler.epoch(settings.batch_size):
                a = x_train_t[torch.as_tensor(first, device=device)]
                b = x_train_t[torch.as_tensor(second, device=device)]
                if settings.augment:
                    a, b = augment(a, generator), augment(b, generator)
                loss = F.binary_cross_entropy_with_logits(model(a, b), torch.as_tensor(target, device=device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            train_loss = torch.stack(losses).mean().item()
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"{desc}: the training loss became {train_loss} in epoch {epoch}")
            history.train_loss.append(train_loss)
            history.lr.append(optimizer.param_groups[0]["lr"])
            schedule.step()
            if validate:
                val_loss, val_acc, val_rank = validation_scores(model, x_val_t, y_val, v_first, v_second, v_target)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_acc)
                history.val_ranking.append(val_rank)
                score = (val_rank, -val_loss) if settings.early_stopping == "ranking" else (-val_loss, val_rank)
                if score > best_score:
                    best_score, best_state, since_best = score, copy.deepcopy(model.state_dict()), 0
                    history.best_epoch = epoch
                else:
                    since_best += 1
                bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_loss:.3f}", nn=f"{val_rank:.2f}")
            else:
                bar.set_postfix(loss=f"{train_loss:.3f}")
            bar.update(1)
            if validate and since_best >= settings.patience:
                history.stopped_early = epoch < settings.epochs
                break
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
