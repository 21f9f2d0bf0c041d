"""On-the-fly augmentation of training inputs; each policy owns its seeded random stream.

A policy is built from a seed (``policy(seed)``) and called on a batch of raw inputs of one side
of the pairs or triplets (``policy(x) -> x``). The trainer draws the seed from the training's random
stream whenever a policy is given, the identity included, so that switching augmentation on or
off leaves every other random draw (pairs, validation pairs, k-means) unchanged.
"""

from __future__ import annotations

import torch

from ..registry import Registry

AUGMENTATIONS = Registry("augmentation")


@AUGMENTATIONS.register("none")
class NoAugmentation:
    """The identity (its seed is still drawn: see the module docstring)."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


@AUGMENTATIONS.register("spectrum-jitter")
class SpectrumJitter:
    """Spectra (B, L) shifted by a few points, scaled, tilted and noised, each at random.

    Shift: up to ``shift`` points either way (12 cm⁻¹ on the rruff-ir grid); gain: ×(1 ± ``gain``);
    a linear baseline of slope ± ``slope`` over the spectrum; Gaussian noise of std ``noise``.
    """

    def __init__(self, seed: int, shift: int = 3, gain: float = 0.15, slope: float = 0.1, noise: float = 0.01):
        self.generator = torch.Generator().manual_seed(int(seed))
        self.shift, self.gain, self.slope, self.noise = shift, gain, slope, noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, length = x.shape
        g = dict(generator=self.generator, device="cpu")
        shift = torch.randint(-self.shift, self.shift + 1, (b, 1), **g).to(x.device)
        index = (torch.arange(length, device=x.device)[None, :] - shift).clamp(0, length - 1)
        x = x.gather(1, index)
        gain = 1 + self.gain * (2 * torch.rand(b, 1, **g) - 1)
        slope = self.slope * (2 * torch.rand(b, 1, **g) - 1)
        ramp = torch.linspace(-0.5, 0.5, length)[None, :]
        noise = self.noise * torch.randn(b, length, **g)
        return x * gain.to(x.device) + (slope * ramp + noise).to(x.device)
