"""On-the-fly augmentation of training inputs; each policy owns its seeded random stream.

A policy is built from a seed (``policy(seed, **options)``) and called on the raw inputs of one
batch, one tensor per side of the pairs or triplets (``policy([a, b]) -> [a', b']``); a policy with
``uses_items`` is also given each side's item indices (``items=``) and, once before training,
the training items and labels (``prepare(data, labels)``). The trainer
draws the seed from the training's random stream whenever a policy is given, the identity included,
so that switching augmentation on or off leaves every other random draw (pairs, validation pairs,
k-means) unchanged.
"""

from __future__ import annotations

import torch

from ..registry import Registry
from .spectrum_transforms import DEFAULT_SPECTRUM_RECIPE, parse_transform

AUGMENTATIONS = Registry("augmentation")


class RandomStream:
    """A seeded random stream that draws on the device the batch is on (no host-to-device copy
    per batch); a CPU batch draws exactly what a plain ``torch.Generator().manual_seed(seed)`` would."""

    def __init__(self, seed: int):
        self.seed, self._generators = int(seed), {}

    def on(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]


@AUGMENTATIONS.register("none")
class NoAugmentation:
    """The identity (its seed is still drawn: see the module docstring)."""

    dims = None  # the inputs it transforms: any

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, sides: list[torch.Tensor]) -> list[torch.Tensor]:
        return sides


@AUGMENTATIONS.register("spectrum")
class SpectrumAugmentation:
    """Spectra (B, L) through a chain of :data:`SPECTRUM_TRANSFORMS`, each applied to each spectrum
    with its own probability, every side of the pairs (triplets) drawn on its own.

    ``transforms`` is a list of specs ``"name:p"`` or ``"name:p:option=value,..."`` (e.g.
    ``"shift:0.5:points=4"``), applied in that order; :data:`DEFAULT_SPECTRUM_RECIPE` when None.
    ``mix`` needs the training items: the loop calls :meth:`prepare` with them and passes each
    side's item indices (``uses_items``).
    """

    dims = 1  # the inputs it transforms: spectra

    uses_items = True

    def __init__(self, seed: int, transforms=None):
        self.random = RandomStream(seed)
        self.chain = [parse_transform(spec) for spec in (DEFAULT_SPECTRUM_RECIPE if transforms is None else transforms)]

    def prepare(self, data: torch.Tensor, labels) -> None:
        for _, transform in self.chain:
            if hasattr(transform, "prepare"):
                transform.prepare(data, labels)

    def __call__(self, sides: list[torch.Tensor], items: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        items = items if items is not None else [None] * len(sides)
        return [self._augment(x, index) for x, index in zip(sides, items)]

    def _augment(self, x: torch.Tensor, items) -> torch.Tensor:
        generator = self.random.on(x.device)
        for p, transform in self.chain:
            if p == 0:
                continue
            chosen = torch.rand(len(x), 1, generator=generator, device=x.device) < p if p < 1 else None
            changed = transform.apply(x, transform.draw(x, generator, items))
            x = changed if chosen is None else torch.where(chosen, changed, x)
        return x


@AUGMENTATIONS.register("flips-greyscale")
class FlipsGreyscale:
    """Images (B, C, H, W): horizontal flip, vertical flip and greyscale, each applied with
    probability ``p`` (Borsani 2023 §1.2: torchvision's RandomHorizontalFlip, RandomVerticalFlip and
    RandomGrayscale). ``paired=True`` draws once per pair and applies the same to every side of it
    (the pair stays a pair of the same view); ``False`` draws for each side on its own.
    """

    dims = 2  # the inputs it transforms: images

    def __init__(self, seed: int, p: float = 0.7, paired: bool = True):
        if not 0 <= p <= 1:
            raise ValueError(f"augmentation probability p must lie in [0, 1], got {p}")
        self.random = RandomStream(seed)
        self.p, self.paired = p, paired

    def _draw(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.rand(n, 3, generator=self.random.on(device), device=device) < self.p  # hflip, vflip, grey

    def __call__(self, sides: list[torch.Tensor]) -> list[torch.Tensor]:
        device = sides[0].device
        shared = self._draw(len(sides[0]), device) if self.paired else None
        return [apply_flips_greyscale(x, shared if self.paired else self._draw(len(x), device)) for x in sides]


def apply_flips_greyscale(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) with row i flipped left-right / up-down / turned grey where ``choice[i]`` says so."""
    choice = choice.to(x.device)
    x = torch.where(choice[:, 0, None, None, None], x.flip(-1), x)
    x = torch.where(choice[:, 1, None, None, None], x.flip(-2), x)
    if x.shape[1] == 3:  # ITU-R 601 luma, as torchvision's rgb_to_grayscale, kept on three channels
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device)
        grey = (x.float() * weights[None, :, None, None]).sum(1, keepdim=True).expand_as(x).to(x.dtype)
        x = torch.where(choice[:, 2, None, None, None], grey, x)
    return x


@AUGMENTATIONS.register("flips-scale")
class FlipsScale:
    """Images (B, C, H, W) as the authors fine-tune CNNs (MATLAB ``imageDataAugmenter`` with
    RandXReflection, RandYReflection, RandXScale [1 2], RandYScale [1 2]): a left-right and an
    up-down flip, each with probability ``p``, and a zoom about the centre by a factor drawn
    uniformly in [1, ``max_scale``] for each axis on its own, the output cropped to the input size.
    Every side (item) draws on its own. The output is float32 (bilinear resampling).
    """

    dims = 2  # the inputs it transforms: images

    def __init__(self, seed: int, p: float = 0.5, max_scale: float = 2.0):
        if not 0 <= p <= 1:
            raise ValueError(f"flip probability p must lie in [0, 1], got {p}")
        if max_scale < 1:
            raise ValueError(f"max_scale must be at least 1, got {max_scale}")
        self.random = RandomStream(seed)
        self.p, self.max_scale = p, max_scale

    def __call__(self, sides: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self._augment(x) for x in sides]

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        b, device = len(x), x.device
        g = dict(generator=self.random.on(device), device=device)
        flips = torch.rand(b, 2, **g) < self.p
        scale = 1 + (self.max_scale - 1) * torch.rand(b, 2, **g)  # (x, y) zoom factors
        x = x.float()
        x = torch.where(flips[:, 0, None, None, None], x.flip(-1), x)
        x = torch.where(flips[:, 1, None, None, None], x.flip(-2), x)
        theta = torch.zeros(b, 2, 3, device=device)  # output (u, v) samples input (u / sx, v / sy): a zoom in
        theta[:, 0, 0], theta[:, 1, 1] = 1 / scale[:, 0], 1 / scale[:, 1]
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@AUGMENTATIONS.register("jitter")
class Jitter:
    """Images (B, C, H, W): a small random affine change of each item on its own, a shift of up to
    ``shift`` of the side along each axis, a zoom by a factor in [1 - ``scale``, 1 + ``scale``] and a
    rotation of up to ``degrees``, resampled bilinearly with the border pixels extended. It keeps
    what an image shows (no flips), so it suits digits, characters and faces alike. Output float32.
    """

    dims = 2  # the inputs it transforms: images

    def __init__(self, seed: int, shift: float = 0.1, scale: float = 0.1, degrees: float = 10.0):
        for name, value, top in (("shift", shift, 0.5), ("scale", scale, 0.5), ("degrees", degrees, 180.0)):
            if not 0 <= value <= top:
                raise ValueError(f"jitter {name} must lie in [0, {top:g}], got {value}")
        self.random = RandomStream(seed)
        self.shift, self.scale, self.degrees = shift, scale, degrees

    def __call__(self, sides: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self._augment(x) for x in sides]

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        b, device = len(x), x.device
        g = dict(generator=self.random.on(device), device=device)
        shift = (torch.rand(b, 2, **g) * 2 - 1) * self.shift * 2  # affine_grid spans [-1, 1]: a side is 2
        zoom = 1 + (torch.rand(b, **g) * 2 - 1) * self.scale
        angle = (torch.rand(b, **g) * 2 - 1) * self.degrees * torch.pi / 180
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        x = x.float()
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
