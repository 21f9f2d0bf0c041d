"""Random transforms of spectra (B, L) for training augmentation, one small class each.

The transforms of Liu et al.'s Table 2 and of their CNN reference (Liu et al., Analyst 2017):
``shift`` along the axis by a few points, additive ``noise`` scaled to the signal, a random
baseline ``drift`` (a low-order polynomial), a random intensity ``scale``, and ``mix`` with another
spectrum of the same class. Each transform draws its parameters for a batch (``draw``) and applies
them (``apply``); both keep the batch's shape, dtype and device. A recipe names them as
``"name:p"`` or ``"name:p:option=value,..."`` (:func:`parse_transform`); the composed policy
(:class:`dissim.train.augment.SpectrumAugmentation`) applies each to each spectrum with probability p.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch

from ..errors import UserError
from ..registry import Registry

SPECTRUM_TRANSFORMS = Registry("spectrum transform")

# shift, noise, drift and intensity each on half the spectra, mixing on a quarter: every spectrum
# is still seen unchanged now and then (about 1 in 20 draws)
DEFAULT_SPECTRUM_RECIPE = ("shift:0.5", "scale:0.5", "drift:0.5", "noise:0.5", "mix:0.25")


def _signal_range(x: torch.Tensor) -> torch.Tensor:
    """Max − min of each spectrum (B, 1): noise and drift are sized to it, so they mean the same
    on raw and on baseline-corrected spectra."""
    return (x.amax(1, keepdim=True) - x.amin(1, keepdim=True)).clamp_min(1e-12)


def _uniform(n: int, x: torch.Tensor, generator: torch.Generator, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, 1, generator=generator, device=x.device, dtype=torch.float32)


@SPECTRUM_TRANSFORMS.register("shift")
class Shift:
    """Shift each spectrum by an integer drawn from [−points, points] (x'[i] = x[i − s]; the end
    value is repeated into the gap)."""

    def __init__(self, points: int = 3):
        self.points = int(points)

    def draw(self, x, generator, items=None) -> torch.Tensor:
        return torch.randint(-self.points, self.points + 1, (len(x), 1), generator=generator, device=x.device)

    def apply(self, x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        index = (torch.arange(x.shape[1], device=x.device)[None, :] - shift).clamp(0, x.shape[1] - 1)
        return x.gather(1, index)


@SPECTRUM_TRANSFORMS.register("noise")
class Noise:
    """Add Gaussian noise of standard deviation ``level`` × the spectrum's range (max − min)."""

    def __init__(self, level: float = 0.01):
        self.level = float(level)

    def draw(self, x, generator, items=None) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)

    def apply(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return (x + self.level * _signal_range(x) * noise).to(x.dtype)


@SPECTRUM_TRANSFORMS.register("drift")
class Drift:
    """Add a smooth baseline: a polynomial of degree ``order`` over the axis (mapped to [−1, 1])
    with uniform random coefficients, scaled so that its largest absolute value is a uniform draw
    from [0, ``amplitude``] × the spectrum's range."""

    def __init__(self, amplitude: float = 0.1, order: int = 3):
        self.amplitude, self.order = float(amplitude), int(order)

    def draw(self, x, generator, items=None) -> torch.Tensor:
        coefficients = 2 * torch.rand(len(x), self.order + 1, generator=generator, device=x.device) - 1
        axis = torch.linspace(-1, 1, x.shape[1], device=x.device)
        curve = coefficients @ torch.stack([axis ** k for k in range(self.order + 1)])
        peak = curve.abs().amax(1, keepdim=True).clamp_min(1e-12)
        return curve / peak * _uniform(len(x), x, generator, 0.0, self.amplitude)

    def apply(self, x: torch.Tensor, curve: torch.Tensor) -> torch.Tensor:
        return (x + _signal_range(x) * curve).to(x.dtype)


@SPECTRUM_TRANSFORMS.register("scale")
class Scale:
    """Multiply each spectrum by a factor drawn from [1 − amount, 1 + amount]."""

    def __init__(self, amount: float = 0.15):
        self.amount = float(amount)

    def draw(self, x, generator, items=None) -> torch.Tensor:
        return _uniform(len(x), x, generator, 1 - self.amount, 1 + self.amount)

    def apply(self, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        return (x * factor).to(x.dtype)


@SPECTRUM_TRANSFORMS.register("mix")
class Mix:
    """Mix each spectrum with a random spectrum of its own class: (1 − λ)·x + λ·x_same, λ drawn from
    [0, ``amount``]. It needs the training items and labels (:meth:`prepare`) and each row's item
    index; a class with one item mixes a spectrum with itself (no change)."""

    needs_items = True

    def __init__(self, amount: float = 0.3):
        self.amount = float(amount)
        self.data = None

    def prepare(self, data: torch.Tensor, labels) -> None:
        """Index the training items (N, L) by class, on their device."""
        codes = np.unique(np.asarray(labels), return_inverse=True)[1]
        counts = np.bincount(codes)
        device = data.device
        self.data = data
        self.code = torch.as_tensor(codes, device=device)
        self.order = torch.as_tensor(np.argsort(codes, kind="stable"), device=device)
        self.start = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]), device=device)
        self.count = torch.as_tensor(counts, device=device)

    def draw(self, x, generator, items=None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.data is None or items is None:
            raise UserError("the mix augmentation needs the training items and labels; use it through the "
                            "training loop (train_twin), which provides them")
        code = self.code[items]
        offset = (torch.rand(len(items), generator=generator, device=x.device) * self.count[code]).long()
        partner = self.order[self.start[code] + offset.clamp_max(self.count[code] - 1)]
        return self.data[partner].to(x.dtype), _uniform(len(x), x, generator, 0.0, self.amount)

    def apply(self, x: torch.Tensor, params) -> torch.Tensor:
        partner, weight = params
        return ((1 - weight) * x + weight * partner).to(x.dtype)


@SPECTRUM_TRANSFORMS.register("jitter")
class Jitter:
    """The one fixed jitter of earlier dissim versions, all at once: a shift of up to ``shift``
    points, a gain of ×(1 ± ``gain``), a linear tilt of ± ``slope`` over the spectrum and Gaussian
    noise of std ``noise`` (absolute). ``"jitter:1"`` draws exactly what ``augment = true`` drew
    before the separate transforms existed (measured: it lowers one-shot accuracy; kept to
    reproduce older results)."""

    def __init__(self, shift: int = 3, gain: float = 0.15, slope: float = 0.1, noise: float = 0.01):
        self.shift, self.gain, self.slope, self.noise = int(shift), float(gain), float(slope), float(noise)

    def draw(self, x, generator, items=None):
        b, length = x.shape
        g = dict(generator=generator, device=x.device)
        shift = torch.randint(-self.shift, self.shift + 1, (b, 1), **g)
        gain = 1 + self.gain * (2 * torch.rand(b, 1, **g) - 1)
        slope = self.slope * (2 * torch.rand(b, 1, **g) - 1)
        return shift, gain, slope, self.noise * torch.randn(b, length, **g)

    def apply(self, x: torch.Tensor, params) -> torch.Tensor:
        shift, gain, slope, noise = params
        ramp = torch.linspace(-0.5, 0.5, x.shape[1], device=x.device)[None, :]
        return Shift.apply(self, x, shift) * gain + (slope * ramp + noise)


def augmentation_recipe(augment) -> tuple[str, ...]:
    """The transform specs that an ``augment`` setting means: False -> none, True -> the default
    recipe, a list of specs -> those (each checked)."""
    if augment is True:
        return DEFAULT_SPECTRUM_RECIPE
    if augment is False or augment is None:
        return ()
    specs = tuple(augment)
    for spec in specs:
        parse_transform(spec)
    return specs


def parse_transform(spec: str):
    """(p, transform) from ``"name:p"`` or ``"name:p:option=value,option=value"``; UserError otherwise."""
    if not isinstance(spec, str) or spec.count(":") not in (1, 2):
        raise UserError(f"augmentation {spec!r}: write it as name:probability or name:probability:option=value,... "
                        f"with name one of {', '.join(SPECTRUM_TRANSFORMS.names())} (e.g. \"shift:0.5:points=3\")")
    name, p, *rest = spec.split(":")
    if name.strip().lower() not in SPECTRUM_TRANSFORMS.names():
        raise UserError(f"augmentation {spec!r}: unknown transform {name!r}; known are "
                        f"{', '.join(SPECTRUM_TRANSFORMS.names())}")
    cls = SPECTRUM_TRANSFORMS.get(name.strip())
    try:
        probability = float(p)
    except ValueError:
        probability = -1.0
    if not 0 <= probability <= 1:
        raise UserError(f"augmentation {spec!r}: the probability must be a number in [0, 1], got {p!r}")
    accepted = inspect.signature(cls).parameters
    options = {}
    for item in (rest[0].split(",") if rest and rest[0].strip() else []):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in accepted or not value.strip():
            raise UserError(f"augmentation {spec!r}: {name} takes {', '.join(f'{k}=VALUE' for k in accepted)}, "
                            f"got {item!r}")
        kind = type(accepted[key].default)  # int or float
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (kind is int and number != int(number)):
            raise UserError(f"augmentation {spec!r}: {key} must be a non-negative "
                            f"{'integer' if kind is int else 'number'}, got {value.strip()!r}")
        options[key] = kind(number)
    return probability, cls(**options)
