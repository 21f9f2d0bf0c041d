"""Spectrum augmentations: each keeps shape and dtype and does what it says; the composed policy
applies each with its probability; augmentation happens in training only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dissim.errors import UserError
from dissim.eval import SiameseMatcher
from dissim.train import (
    SPECTRUM_TRANSFORMS,
    SpectrumAugmentation,
    augmentation_recipe,
    parse_transform,
)
from dissim.train.spectrum_transforms import Drift, Mix, Noise, Scale, Shift

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _spectra(n=16, length=200, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, length, generator=g, dtype=dtype)


def _prepared(transform, x):
    if isinstance(transform, Mix):
        transform.prepare(x, np.arange(len(x)) % 3)
    return transform


@pytest.mark.parametrize("name", ["shift", "noise", "drift", "scale", "mix", "jitter"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_transform_keeps_shape_and_dtype_and_changes_the_spectra(name, dtype):
    x = _spectra(dtype=dtype)
    transform = _prepared(SPECTRUM_TRANSFORMS.get(name)(), x)
    g = torch.Generator().manual_seed(1)
    out = transform.apply(x, transform.draw(x, g, torch.arange(len(x))))
    assert out.shape == x.shape and out.dtype == dtype
    assert not torch.equal(out, x)


def test_shift_moves_the_peak_by_the_drawn_amount():
    x = torch.zeros(40, 100)
    x[:, 50] = 1.0
    shift = Shift(points=4)
    drawn = shift.draw(x, torch.Generator().manual_seed(3))
    out = shift.apply(x, drawn)
    assert drawn.abs().max() <= 4 and len(torch.unique(drawn)) > 3
    assert torch.equal(out.argmax(1), 50 + drawn[:, 0])
    assert torch.equal(out.sum(1), x.sum(1))  # moved, not smeared


def test_noise_has_the_asked_size_relative_to_the_signal():
    x = 5 * _spectra(n=8, length=4000)  # range about 5
    noise = Noise(level=0.02)
    out = noise.apply(x, noise.draw(x, torch.Generator().manual_seed(0)))
    residual = out - x
    expected = 0.02 * (x.amax(1) - x.amin(1))
    assert torch.allclose(residual.std(1), expected, rtol=0.08)
    assert residual.mean().abs() < 0.03 * expected.mean()  # zero-mean: about 5 standard errors


def test_drift_is_a_smooth_low_order_polynomial_of_bounded_size():
    x = _spectra(n=12, length=300)
    drift = Drift(amplitude=0.2, order=3)
    out = drift.apply(x, drift.draw(x, torch.Generator().manual_seed(2)))
    added = (out - x).double().numpy()
    axis = np.linspace(-1, 1, x.shape[1])
    signal_range = (x.amax(1) - x.amin(1)).double().numpy()
    for row, size in zip(added, signal_range):
        fit = np.polynomial.polynomial.polyfit(axis, row, 3)
        assert np.abs(np.polynomial.polynomial.polyval(axis, fit) - row).max() < 1e-5  # exactly a cubic
        assert np.abs(row).max() <= 0.2 * size + 1e-6
        assert np.abs(np.diff(row, 2)).max() < 1e-3 * size  # smooth: no point-to-point wiggle
    assert np.abs(added).max(1).std() > 0  # random sizes


def test_scale_multiplies_each_spectrum_by_one_factor_in_range():
    x = _spectra() + 0.1
    scale = Scale(amount=0.2)
    out = scale.apply(x, scale.draw(x, torch.Generator().manual_seed(4)))
    ratio = out / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)
    assert ratio.min() >= 0.8 - 1e-6 and ratio.max() <= 1.2 + 1e-6 and ratio[:, 0].std() > 0


def test_mix_blends_only_with_spectra_of_the_same_class():
    labels = np.repeat([0, 1, 2], 5)
    x = torch.as_tensor(np.repeat(labels * 10.0, 50).reshape(15, 50)) + torch.rand(15, 50, dtype=torch.float64)
    mix = Mix(amount=0.5)
    mix.prepare(x, labels)
    items = torch.arange(15)
    partner, weight = mix.draw(x, torch.Generator().manual_seed(5), items)
    out = mix.apply(x, (partner, weight))
    for i, c in enumerate(labels):  # class c lives in [10c, 10c + 1]; mixing with another class would leave it
        assert out[i].min() >= 10 * c and out[i].max() <= 10 * c + 1
        j = [k for k in np.flatnonzero(labels == c) if torch.equal(x[k], partner[i])]
        assert j, "the partner is an item of the same class"
    assert torch.allclose(out, (1 - weight) * x + weight * partner)
    assert weight.max() <= 0.5 and not torch.equal(out, x)


def test_mix_outside_the_training_loop_is_a_clear_error():
    x = _spectra()
    with pytest.raises(UserError, match="mix augmentation needs the training items"):
        Mix().draw(x, torch.Generator().manual_seed(0))


def test_each_transform_applies_with_its_probability_and_sides_draw_on_their_own():
    x = _spectra(n=2000, length=64)
    never = SpectrumAugmentation(0, ["scale:0", "noise:0"])
    assert torch.equal(never([x])[0], x)
    always = SpectrumAugmentation(0, ["scale:1"])
    assert (always([x])[0] != x).any(1).all()
    half = SpectrumAugmentation(0, ["scale:0.3"])
    changed = (half([x])[0] != x).any(1).float().mean()
    assert 0.25 < changed < 0.35
    a, b = SpectrumAugmentation(7, ["noise:1"])([x, x])
    assert not torch.equal(a, b)  # both sides augmented, each with its own draws


def test_the_same_seed_gives_the_same_augmentation():
    x = _spectra()
    items = torch.arange(len(x))
    one, two = SpectrumAugmentation(3), SpectrumAugmentation(3)
    for policy in (one, two):
        policy.prepare(x, np.arange(len(x)) % 4)
    assert torch.equal(one([x], items=[items])[0], two([x], items=[items])[0])


@pytest.mark.parametrize("spec, message", [
    ("warp:0.5", "unknown transform 'warp'"),
    ("shift", "name:probability"),
    ("shift:1.5", "probability must be a number in \\[0, 1\\]"),
    ("shift:0.5:width=3", "shift takes points=VALUE"),
    ("shift:0.5:points=2.5", "points must be a non-negative integer"),
    ("noise:0.5:level=-1", "level must be a non-negative number"),
])
def test_bad_augmentation_specs_are_user_errors_naming_the_fix(spec, message):
    with pytest.raises(UserError, match=message):
        parse_transform(spec)


def test_augment_setting_values():
    assert augmentation_recipe(False) == ()
    assert len(augmentation_recipe(True)) == 5
    assert augmentation_recipe(["shift:0.5:points=2"]) == ("shift:0.5:points=2",)
    p, shift = parse_transform("shift:0.5:points=2")
    assert p == 0.5 and shift.points == 2


def test_augmentation_runs_in_training_and_never_at_test_time(monkeypatch):
    calls = []
    original = SpectrumAugmentation.__call__

    def spy(self, sides, items=None):
        calls.append(len(sides))
        return original(self, sides, items=items)

    monkeypatch.setattr(SpectrumAugmentation, "__call__", spy)
    rng = np.random.default_rng(0)
    centres = rng.random((6, 120))
    X = np.repeat(centres, 4, axis=0) + 0.05 * rng.random((24, 120))
    y = np.repeat(np.arange(6), 4)
    matcher = SiameseMatcher(topology="liu-spectra", epochs=2, batch_size=8, augment=True, validation_fraction=0,
                             device="cpu", random_state=0).fit(X.astype(np.float32), y)
    trained = len(calls)
    assert trained > 0 and set(calls) == {2}  # every batch, both sides of the pairs
    first = matcher.similarity(X[:5], X[5:])
    second = matcher.similarity(X[:5], X[5:])
    assert len(calls) == trained and np.array_equal(first, second)
