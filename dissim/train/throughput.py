"""How fast a device trains a network: a few timed training steps, as :func:`~dissim.train.loop.fit`
takes them, and the machine's matrix-multiply rate to put them beside.

A *training step* here is what the Siamese loop does per batch: raw inputs through the twin as
``SiameseNet.to_device`` sets it up (bf16: autocast and channels-last images), the BCE pair head,
backward, and an Adam step (foreach kernels in fp32, fused in mixed precision, as
:mod:`dissim.train.twin` chooses). One warm-up step (kernel selection, allocation), then the
fastest of ``steps`` timed ones, the forward and backward passes (which grow with the batch) and
the optimizer's update (which does not: large fully connected layers make it most of a small
step) timed apart, so that a few images say how a step of a whole batch goes. Per image, the other
losses (triplet, cross-entropy) cost the same up to their small heads, so one rate serves every
loss of a network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..hardware import Compute
from ..nets import SiameseNet, Topology
from .losses import create_loss

OPTIMIZER_OPTIONS = {"fp32": {"foreach": True}}  # mixed precision: {"fused": True}


@dataclass(frozen=True)
class Workload:
    """``count`` trainings of one network on inputs of one shape: each takes ``train_images`` inputs
    through training steps (``step_images`` at a time) and ``forward_images`` through forward passes
    (embedding, scoring). ``rate_name`` names the network in rate tables (a topology's name, or a
    pretrained network's); ``pretrained``: an ImageNet network (its own precision default)."""

    label: str
    topology: Topology
    channels: int
    input_size: int
    precision: str
    count: int
    train_images: int
    forward_images: int
    step_images: int
    rate_name: str
    pretrained: bool = False

    @property
    def forward_flops(self) -> int:
        """FLOPs of one forward pass of one input (multiply and add counted apart)."""
        return self.topology.forward_flops(self.channels, self.input_size)

    @property
    def flops(self) -> float:
        """FLOPs of all ``count`` trainings: training = 3 forward passes (forward and backward)."""
        return float(self.count) * self.forward_flops * (3 * self.train_images + self.forward_images)

    def seconds(self, images_per_second: float) -> float:
        """Seconds of one training at ``images_per_second`` training images in its steps (forward passes
        at 3x that: a third of the work, at the same FLOP rate)."""
        return (self.train_images + self.forward_images / 3) / images_per_second


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class StepTime:
    """Seconds of a training step: ``per_step`` that does not grow with the batch (the optimizer's
    update, clearing gradients) and ``per_image`` that does (forward and backward)."""

    per_image: float
    per_step: float

    def images_per_s(self, batch: int) -> float:
        """Training images per second in steps of ``batch`` images."""
        return batch / (self.per_step + batch * self.per_image)


def training_step_time(topology: Topology, channels: int, input_size: int, *, device="cpu",
                       precision: str = "fp32", images: int = 4, steps: int = 2, seed: int = 0) -> StepTime:
    """How long ``topology`` takes per training step on ``device`` in ``precision``, timed on steps of
    ``images`` raw inputs (``images // 2`` pairs; at least one pair): the forward and backward passes
    (per image) and the optimizer's update (per step) apart, each the fastest of ``steps`` after a
    warm-up step."""
    device = torch.device(device)
    pairs = max(1, images // 2)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = SiameseNet(topology, channels, input_size).to_device(Compute.of(device, precision, topology.dims)).train()
        loss = create_loss("bce", net.embedding_dim).to(device)
        optimizer = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=1e-4,
                                     **OPTIMIZER_OPTIONS.get(precision, {"fused": True}))
        shape = (2 * pairs, channels, input_size, input_size) if topology.dims == 2 else (2 * pairs, input_size)
        x = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
        x = x if topology.dims == 2 else x.float()
        target = (torch.arange(pairs, device=device) % 2).float()

    def step() -> tuple[float, float]:
        _synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        features = net(x)
        loss(features[:pairs], features[pairs:], target=target).backward()
        _synchronize(device)
        middle = time.perf_counter()
        optimizer.step()
        _synchronize(device)
        return middle - start, time.perf_counter() - middle

    step()  # warm-up
    times = [step() for _ in range(max(1, steps))]
    return StepTime(per_image=min(t[0] for t in times) / (2 * pairs), per_step=min(t[1] for t in times))


def matmul_rate(*, device="cpu", precision: str = "fp32", size: int = 1024, repeats: int = 3) -> float:
    """FLOP/s of a square ``size`` matrix product on ``device`` in ``precision`` (fastest of ``repeats``)."""
    device = torch.device(device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times)
