"""Build a Siamese network (twin, loss, optimizer, sampler) from its settings and train it: the
shared core behind every estimator and protocol that learns a similarity."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..hardware import Compute
from ..nets import SiameseNet, Topology
from ..optim import create_optimizer
from .augment import AUGMENTATIONS
from .budget import check_training_fits
from .loop import OutOfMemory, TrainHistory, fit
from .losses import create_loss, get_loss
from .samplers import SAMPLERS
from .validation import Validator


@dataclass(frozen=True)
class TwinConfig:
    """How a Siamese network is built and trained.

    Budget: ``iterations`` steps in one epoch, or ``epochs`` epochs of the sampler's epoch length
    (``BalancedBootstrapPairSampler``: one bootstrap iteration). ``lr_halving_epochs`` halves the
    learning rate every so many epochs; with validation items, the best epoch's weights are kept
    and ``patience`` epochs without improvement stop training; ``lr_gamma`` multiplies it by gamma
    after every epoch instead. ``augmentation`` names a policy of :mod:`dissim.train.augment` (None:
    no augmentation, and no random stream reserved for it). Where and how the twin computes is not
    part of it: :func:`train_twin` is handed a resolved :class:`~dissim.hardware.Compute`.
    """

    topology: Topology
    loss: str = "bce"
    loss_options: dict = field(default_factory=dict)
    optimizer: str = "adam"
    optimizer_options: dict = field(default_factory=dict)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    batch_size: int = 180
    iterations: int | None = 3000
    epochs: int | None = None
    sampler: str | None = None  # None: the loss's default
    sampler_options: dict = field(default_factory=dict)
    activation: str = "sigmoid"
    input_scale: float = 1.0
    input_gate: object = None  # a fixed vector b: the twin's input becomes σ(x ⊙ b) (None: x)
    lr_halving_epochs: int | None = None
    lr_gamma: float | None = None  # exponential decay of the learning rate per epoch
    patience: int | None = None
    early_stopping: str = "ranking"
    augmentation: str | None = None
    augmentation_options: dict = field(default_factory=dict)
    head_lr_factor: float = 1.0  # the loss's own layers (a classifier, a pair head) learn this much faster
    batchnorm_statistics: str = "running"  # "population": recomputed over the training set after training


@dataclass
class TrainedTwin:
    """A trained twin with the loss that compares its features, and how training went."""

    net: SiameseNet
    loss: nn.Module
    history: TrainHistory


CPU_FP32 = Compute()  # the CPU in float32: what a training computes on unless it is handed another Compute


def _devices_to_fork(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def train_twin(inputs: np.ndarray, labels: np.ndarray, config: TwinConfig, *, seed: int, rng: np.random.Generator,
               compute: Compute = CPU_FP32, validation: tuple | None = None, progress: bool = False,
               desc: str = "train") -> TrainedTwin:
    """Train a twin on ``inputs`` (N, C, H, W) images or (N, L) spectra with class ``labels``.

    ``seed`` seeds the network's initialisation (torch, forked: the caller's global torch random
    state is left as it was); ``rng`` draws the pairs or triplets (and validation pairs and the
    augmentation seed), and goes on for the caller afterwards. ``validation`` = (inputs, labels).
    ``compute`` says where and in which precision the twin computes.
    """
    device = torch.device(compute.device)
    inputs = np.asarray(inputs)
    in_channels, size = (1, inputs.shape[-1]) if inputs.ndim == 2 else (inputs.shape[1], inputs.shape[-1])
    loss_class = get_loss(config.loss)
    sampler_class = SAMPLERS.get(config.sampler or loss_class.default_sampler)
    if (config.iterations is None) == (config.epochs is None):
        raise UserError("give the training budget as iterations or as epochs (one of them)")
    policy = AUGMENTATIONS.get(config.augmentation) if config.augmentation is not None else None
    if policy is not None and policy.dims not in (None, config.topology.dims):
        raise UserError(f"augmentation {config.augmentation!r} transforms {'images' if policy.dims == 2 else 'spectra'}; "
                        f"topology {config.topology.name} takes {'images' if config.topology.dims == 2 else 'spectra'}: "
                        "choose an augmentation of its kind, or none")
    sampler = sampler_class(labels, rng, **config.sampler_options)  # draws from rng only, as before the net
    steps = config.iterations or sampler.batches_per_epoch(config.batch_size)
    epochs = config.epochs or 1
    check_training_fits(config.topology, in_channels, size, batch_size=config.batch_size, arity=sampler.arity,
                        steps=steps, epochs=epochs, items=len(inputs), item_bytes=_training_array(inputs[:1]).itemsize,
                        device=str(device), what=f"training {desc}")
    with torch.random.fork_rng(devices=_devices_to_fork(device)):
        torch.manual_seed(seed)
        net = SiameseNet(config.topology, in_channels, size, config.activation, config.input_scale,
                         config.input_gate).to_device(compute)
        loss = create_loss(config.loss, net.embedding_dim, **config.loss_options).to(device)
        params = list(net.parameters()) + list(loss.parameters())
        if config.head_lr_factor != 1.0:  # e.g. a fine-tuned CNN's new last layer (the authors: x20)
            params = [{"params": list(net.parameters())},
                      {"params": list(loss.parameters()), "lr": config.lr * config.head_lr_factor}]
        optimizer = create_optimizer(config.optimizer, params,
                                     lr=config.lr, betas=tuple(config.betas), niter=epochs * steps,
                                     **_optimizer_options(config, compute.precision))
        scheduler = None
        if config.lr_halving_epochs:
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_halving_epochs, gamma=0.5)
        elif config.lr_gamma is not None:
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_gamma)
        validator = Validator(*validation, rng) if validation is not None else None
        augment = (AUGMENTATIONS.create(config.augmentation, int(rng.integers(2**63)), **config.augmentation_options)
                   if config.augmentation is not None else None)
        data = torch.as_tensor(_training_array(inputs)).to(device)
        history = fit(net, loss, optimizer, data, sampler, batch_size=config.batch_size, epochs=epochs,
                      steps_per_epoch=steps, labels=labels, augment=augment, validator=validator, patience=config.patience,
                      early_stopping=config.early_stopping, scheduler=scheduler, progress=progress, desc=desc)
        if config.batchnorm_statistics == "population":
            population_batchnorm(net, data, config.batch_size)
    return TrainedTwin(net, loss, history)


@torch.no_grad()
def population_batchnorm(net: nn.Module, data: torch.Tensor, batch_size: int) -> None:
    """Batch-norm statistics over the whole training set, as MATLAB's trainNetwork computes them after
    training (BatchNormalizationStatistics "population"): a short fine-tune's running averages still
    lean on ImageNet's statistics, so the network would predict with statistics it never trained with."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    net.train()
    for start in range(0, len(data), batch_size):
        net(data[start:start + batch_size])
    net.eval()
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@dataclass
class TrainingAttempts:
    """How a training with retries went: reruns for lack of convergence, the batch size that fit."""

    reruns: int = 0
    converged: bool = True
    batch_size: int = 0
    batch_retries: list[int] = field(default_factory=list)  # batch sizes that ran out of memory

    def to_dict(self) -> dict:
        return {"reruns": self.reruns, "converged": self.converged, "batch_size": self.batch_size,
                "out_of_memory_at": list(self.batch_retries)}


def converged(step_loss: np.ndarray, ratio: float) -> bool:
    """The convergence rule: the mean loss of the last 10 % of the steps is at most ``ratio`` times the
    mean of the first 10 % (a network whose loss stays flat has learnt nothing from the training set)."""
    losses = np.asarray(step_loss, dtype=np.float64)
    if len(losses) < 2:
        return True
    n = max(1, len(losses) // 10)
    return bool(losses[-n:].mean() <= ratio * losses[:n].mean())


def smaller_batch(batch_size: int) -> int:
    """The authors' retry after running out of memory: 10 fewer (halved below 20)."""
    return batch_size - 10 if batch_size >= 20 else batch_size // 2


def train_twin_with_retries(inputs: np.ndarray, labels: np.ndarray, config: TwinConfig, *, seed: int,
                            rng: np.random.Generator, max_reruns: int = 0, converge_ratio: float = 0.9,
                            **options) -> tuple[TrainedTwin, TrainingAttempts]:
    """:func:`train_twin`, retried as the authors do: with the batch size stepped down while the device
    runs out of memory, and from a fresh initialisation (seed + attempt; the pairs go on from ``rng``)
    while the loss does not converge (:func:`converged`), at most ``max_reruns`` times; the last
    attempt is kept either way. The first attempt is exactly ``train_twin(..., seed=seed, rng=rng)``."""
    attempts = TrainingAttempts(batch_size=config.batch_size)
    for attempt in range(max_reruns + 1):
        while True:
            try:
                twin = train_twin(inputs, labels, config, seed=seed + attempt, rng=rng, **options)
                break
            except OutOfMemory as error:
                if smaller_batch(error.batch_size) < 2:
                    raise
                attempts.batch_retries.append(error.batch_size)
                config = replace(config, batch_size=smaller_batch(error.batch_size))
                attempts.batch_size = config.batch_size
        attempts.reruns, attempts.converged = attempt, converged(twin.history.step_loss, converge_ratio)
        if attempts.converged:
            break
    return twin, attempts


def _optimizer_options(config: TwinConfig, precision: str) -> dict:
    """The recipe's optimizer options; Adam steps with its multi-tensor (foreach) kernels, which give
    the same numbers as the per-tensor loop faster, and in mixed precision with the fused kernel
    (several times faster again on large fc layers; last-bit differences, so not on the fp32 path)."""
    options = dict(config.optimizer_options)
    if config.optimizer == "adam" and "foreach" not in options and "fused" not in options:
        options["fused" if precision != "fp32" else "foreach"] = True
    return options


def _training_array(inputs: np.ndarray) -> np.ndarray:
    """Images keep their dtype (uint8 stays compact on the device); spectra become float32."""
    if inputs.ndim == 2:
        return np.ascontiguousarray(inputs, dtype=np.float32)
    return np.ascontiguousarray(inputs)
