"""Build a Siamese network (twin, loss, optimizer, sampler) from its settings and train it: the
shared core behind every estimator and protocol that learns a similarity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..nets import SiameseNet, Topology
from ..optim import create_optimizer
from .augment import AUGMENTATIONS
from .loop import TrainHistory, fit
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
    no augmentation, and no random stream reserved for it). ``precision`` is how the twin computes
    (master weights and optimizer state stay float32 whatever it is).
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
    precision: str = "fp32"  # resolved (dissim.hardware.resolve_precision): fp32, bf16 or fp16 autocast


@dataclass
class TrainedTwin:
    """A trained twin with the loss that compares its features, and how training went."""

    net: SiameseNet
    loss: nn.Module
    history: TrainHistory


def _devices_to_fork(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def train_twin(inputs: np.ndarray, labels: np.ndarray, config: TwinConfig, *, seed: int, rng: np.random.Generator,
               device: torch.device | str = "cpu", validation: tuple | None = None, progress: bool = False,
               desc: str = "train") -> TrainedTwin:
    """Train a twin on ``inputs`` (N, C, H, W) images or (N, L) spectra with class ``labels``.

    ``seed`` seeds the network's initialisation (torch, forked: the caller's global torch random
    state is left as it was); ``rng`` draws the pairs or triplets (and validation pairs and the
    augmentation seed), and goes on for the caller afterwards. ``validation`` = (inputs, labels).
    """
    device = torch.device(device)
    inputs = np.asarray(inputs)
    in_channels, size = (1, inputs.shape[-1]) if inputs.ndim == 2 else (inputs.shape[1], inputs.shape[-1])
    loss_class = get_loss(config.loss)
    sampler_class = SAMPLERS.get(config.sampler or loss_class.default_sampler)
    if (config.iterations is None) == (config.epochs is None):
        raise UserError("give the training budget as iterations or as epochs (one of them)")
    with torch.random.fork_rng(devices=_devices_to_fork(device)):
        torch.manual_seed(seed)
        net = SiameseNet(config.topology, in_channels, size, config.activation, config.input_scale,
                         config.input_gate).to_device(device, config.precision)
        loss = create_loss(config.loss, net.embedding_dim, **config.loss_options).to(device)
        sampler = sampler_class(labels, rng, **config.sampler_options)
        steps = config.iterations or sampler.batches_per_epoch(config.batch_size)
        epochs = config.epochs or 1
        optimizer = create_optimizer(config.optimizer, list(net.parameters()) + list(loss.parameters()),
                                     lr=config.lr, betas=tuple(config.betas), niter=epochs * steps,
                                     **_optimizer_options(config))
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
    return TrainedTwin(net, loss, history)


def _optimizer_options(config: TwinConfig) -> dict:
    """The recipe's optimizer options; Adam steps with its multi-tensor (foreach) kernels, which give
    the same numbers as the per-tensor loop faster, and in mixed precision with the fused kernel
    (several times faster again on large fc layers; last-bit differences, so not on the fp32 path)."""
    options = dict(config.optimizer_options)
    if config.optimizer == "adam" and "foreach" not in options and "fused" not in options:
        options["fused" if config.precision != "fp32" else "foreach"] = True
    return options


def _training_array(inputs: np.ndarray) -> np.ndarray:
    """Images keep their dtype (uint8 stays compact on the device); spectra become float32."""
    if inputs.ndim == 2:
        return np.ascontiguousarray(inputs, dtype=np.float32)
    return np.ascontiguousarray(inputs)
