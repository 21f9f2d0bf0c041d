"""Spectral data: RRUFF text parsing, resampling, the embedded sets, preprocessing, the balanced
bootstrap pair sampler and the 1-D twin of Liu et al. built from its layer table."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dissim.data import load_dataset
from dissim.data.rruff import parse_rruff_text, read_rruff_file
from dissim.data.spectra import RRUFF_IR_GRID, SpectraSet, load_rruff_folder
from dissim.data.spectral import SpectralPreprocessing, als_baseline, resample
from dissim.errors import UserError
from dissim.nets import build, get_topology
from dissim.train.samplers import BalancedBootstrapPairSampler


def rruff_text(name: str | None, wavenumbers, values, rruff_id="R000001", descending=False) -> str:
    lines = [f"##NAMES={name}"] if name else []
    lines += [f"##RRUFFID={rruff_id}", "##LOCALITY=Somewhere, ünïcode mine", "##DESCRIPTION=a test, with = signs"]
    rows = list(zip(wavenumbers, values))
    if descending:
        rows = rows[::-1]
    lines += [f"{w:.6e}, {v:.6e}" for w, v in rows]
    lines += ["##END=", "", ""]
    return "\n".join(lines)


def write_rruff(path, name, lo=380.0, hi=4010.0, step=1.93, peak=1500.0, descending=False, rruff_id="R000001"):
    w = np.arange(lo, hi, step)
    v = np.exp(-0.5 * ((w - peak) / 20.0) ** 2) + 0.01
    path.write_text(rruff_text(name, w, v, rruff_id=rruff_id, descending=descending), encoding="latin-1")
    return w, v


# -- RRUFF text ------------------------------------------------------------------------------------
def test_rruff_parser_reads_headers_and_rows_in_increasing_order(tmp_path):
    w, v = write_rruff(tmp_path / "Quartz__R1__Infrared.txt", "Quartz", descending=True)
    spectrum = read_rruff_file(tmp_path / "Quartz__R1__Infrared.txt")
    assert spectrum.name == "Quartz"
    assert spectrum.rruff_id == "R000001"
    assert spectrum.headers["DESCRIPTION"] == "a test, with = signs"
    assert np.all(np.diff(spectrum.wavenumbers) > 0)
    assert np.allclose(spectrum.wavenumbers, w, rtol=1e-6)
    assert np.allclose(spectrum.values, v, rtol=1e-6)


def test_rruff_parser_accepts_whitespace_separated_rows_and_merges_repeats():
    spectrum = parse_rruff_text("##NAMES=X\n100 1.0\n200\t3.0\n200 5.0\n300;7\n")
    assert spectrum.wavenumbers.tolist() == [100.0, 200.0, 300.0]
    assert spectrum.values.tolist() == [1.0, 4.0, 7.0]


@pytest.mark.parametrize("text, fragment", [
    ("##NAMES=X\n##END=\n", "no spectrum rows"),
    ("##NAMES=X\n100, 1\n200, abc\n", "line 3"),
    ("##NAMES=X\n100, 1\n200, nan\n300, 2\n", "not a finite number"),
])
def test_rruff_parser_errors_name_the_problem(text, fragment):
    with pytest.raises(UserError, match=fragment):
        parse_rruff_text(text, source="bad.txt")


def test_missing_rruff_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        read_rruff_file(tmp_path / "nope.txt")


# -- resampling ------------------------------------------------------------------------------------
def test_resample_interpolates_and_refuses_a_spectrum_that_does_not_span_the_grid():
    w = np.linspace(390, 4010, 500)
    v = np.sin(w / 100)
    grid = RRUFF_IR_GRID
    assert np.allclose(resample(w, v, grid), np.interp(grid, w, v))
    assert np.allclose(resample(w[::-1], v[::-1], grid), np.interp(grid, w, v))  # descending input
    with pytest.raises(UserError, match="does not cover"):
        resample(np.linspace(50, 700, 300), np.ones(300), grid)
    short = np.linspace(403, 3990, 500)  # 3 and 6 cm^-1 short of the ends
    with pytest.raises(UserError, match="does not cover"):
        resample(short, np.ones(500), grid)
    assert resample(short, np.ones(500), grid, tolerance=6.0).shape == grid.shape


def test_folder_of_rruff_files_loads_on_the_grid_and_skips_far_infrared(tmp_path):
    write_rruff(tmp_path / "a1.txt", "Albite", rruff_id="R1")
    write_rruff(tmp_path / "a2.txt", "Albite", rruff_id="R2", peak=1510)
    (tmp_path / "sub").mkdir()
    write_rruff(tmp_path / "sub" / "q.txt", "Quartz", rruff_id="R3", peak=1100)
    write_rruff(tmp_path / "far.txt", "Quartz", lo=50, hi=700, rruff_id="R4", peak=300)
    messages = []
    data = load_rruff_folder(tmp_path, log=messages.append)
    assert isinstance(data, SpectraSet)
    assert data.spectra.shape == (3, len(RRUFF_IR_GRID))
    assert data.class_names == ["Albite", "Quartz"]
    assert sorted(data.item_ids) == ["R1", "R2", "R3"]
    assert "1 file(s) skipped" in data.notes[0] and messages
    # the registered data set takes the same folder through --data-root
    assert load_dataset("rruff-ir", tmp_path).spectra.shape == (3, 900)


def test_folder_file_without_a_name_is_an_error_naming_it(tmp_path):
    write_rruff(tmp_path / "anon.txt", None)
    with pytest.raises(UserError, match="anon.txt.*##NAMES"):
        load_rruff_folder(tmp_path)


# -- the embedded data sets ------------------------------------------------------------------------
def test_embedded_rruff_ir_is_on_the_common_grid():
    data = load_dataset("rruff-ir")
    assert data.spectra.shape == (768, 900) and data.spectra.dtype == np.float32
    assert data.wavenumbers[0] == 400 and data.wavenumbers[-1] == 3996 and np.all(np.diff(data.wavenumbers) == 4)
    assert np.all(np.isfinite(data.spectra))
    assert data.n_classes == 453
    counts = data.class_counts()
    assert int(np.sum(counts >= 2)) == 172
    assert len(set(data.item_ids)) == len(data)
    assert "Quartz" in data.class_names


def test_embedded_coffee_has_three_origins():
    data = load_dataset("coffee")
    assert data.spectra.shape == (60, 1841)
    assert data.class_names == ["Brasil", "Ethiopia", "Vietnam"]
    assert data.class_counts().tolist() == [20, 20, 20]
    with pytest.raises(UserError, match="embedded"):
        load_dataset("coffee", ".")


# -- preprocessing ---------------------------------------------------------------------------------
def test_minmax_scaling_and_als_removes_a_sloped_baseline():
    x = np.linspace(0, 1, 900)
    peaks = np.exp(-0.5 * ((x - 0.3) / 0.01) ** 2) + 0.6 * np.exp(-0.5 * ((x - 0.7) / 0.015) ** 2)
    baseline = 0.8 + 1.5 * x
    spectrum = (peaks + baseline)[None, :]
    fitted = als_baseline(spectrum)
    away = np.abs(x - 0.3) > 0.06  # off the peaks the fitted baseline follows the true one
    away &= np.abs(x - 0.7) > 0.08
    assert np.max(np.abs(fitted[0, away] - baseline[away])) < 0.05
    raw = SpectralPreprocessing(als=False)(spectrum)
    corrected = SpectralPreprocessing(als=True)(spectrum)
    for out in (raw, corrected):
        assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    # after ALS the highest point is the tallest peak, not the top of the slope
    assert abs(x[np.argmax(corrected[0])] - 0.3) < 0.01
    assert abs(x[np.argmax(raw[0])] - 0.3) > 0.2
    with pytest.raises(UserError):
        SpectralPreprocessing(als=True, als_p=1.5)


# -- balanced bootstrap pair sampler (Liu et al. §2.2) ---------------------------------------------
def test_bootstrap_sampler_draws_as_many_negatives_as_positives():
    labels = np.repeat(np.arange(5), [2, 3, 4, 1, 6])
    sampler = BalancedBootstrapPairSampler(labels, np.random.default_rng(0))
    (a, b), target = sampler.sample(200)
    assert len(a) == len(b) == 200
    assert int(target.sum()) == 100 and int((target == 0).sum()) == 100
    assert np.array_equal(labels[a] == labels[b], target == 1)
    assert np.all(a[target == 1] != b[target == 1])  # a positive pair is two distinct spectra
    assert sampler.n_positive_pairs == 1 + 3 + 6 + 0 + 15
    assert sampler.n_negative_pairs == (16 * 15) // 2 - 25
    with pytest.raises(ValueError, match="even"):
        sampler.sample(7)


def test_bootstrap_sampler_draws_with_replacement():
    labels = np.array([0, 0, 1, 1])  # 2 positive pairs, 4 negative pairs exist
    sampler = BalancedBootstrapPairSampler(labels, np.random.default_rng(1))
    (a, b), target = sampler.sample(12)  # 6 of each kind: more than exist, so pairs must repeat
    pairs = {True: [], False: []}
    for x, y, t in zip(a, b, target):
        pairs[bool(t)].append(tuple(sorted((int(x), int(y)))))
    assert len(pairs[True]) == 6 and len(set(pairs[True])) <= 2
    assert len(pairs[False]) == 6 and len(set(pairs[False])) <= 4
    assert set(pairs[True]) <= {(0, 1), (2, 3)}


def test_bootstrap_positive_pairs_are_uniform_over_pairs_not_classes():
    labels = np.repeat([0, 1], [2, 5])  # class 0 has 1 positive pair, class 1 has 10
    sampler = BalancedBootstrapPairSampler(labels, np.random.default_rng(2))
    (a, b), target = sampler.sample(22000)
    share = np.mean(labels[a[target == 1]] == 0)
    assert abs(share - 1 / 11) < 0.01


def test_bootstrap_epoch_covers_the_positive_pairs_in_whole_batches():
    labels = np.repeat(np.arange(4), [3, 3, 2, 2])  # 3 + 3 + 1 + 1 = 8 positive pairs
    sampler = BalancedBootstrapPairSampler(labels, np.random.default_rng(3))
    batches = list(sampler.epoch(6))  # 3 positives per batch -> 3 batches (9 >= 8)
    assert len(batches) == sampler.batches_per_epoch(6) == 3
    assert all(int(t.sum()) == 3 and len(t) == 6 for _, t in batches)


# -- the 1-D twin ------------------------------------------------------------------------------------
def test_liu_twin_is_six_conv_bn_leakyrelu_maxpool_blocks_with_xavier_convs():
    torch.manual_seed(0)
    net = build("liu-spectra", in_channels=1, input_size=900)
    modules = list(net.layers)
    assert isinstance(modules[-1], nn.Flatten)
    blocks = [modules[i:i + 4] for i in range(0, 24, 4)]
    for conv, bn, act, pool in blocks:
        assert isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d)
        assert isinstance(act, nn.LeakyReLU) and isinstance(pool, nn.MaxPool1d)
        bound = np.sqrt(6.0 / ((conv.in_channels + conv.out_channels) * conv.kernel_size[0]))
        assert conv.weight.abs().max().item() <= bound  # Glorot-uniform range
        assert conv.weight.std().item() > bound / 4  # ... and not the narrow N(0, 0.01)
    filters = [block[0].out_channels for block in blocks]
    assert filters == [16, 16, 32, 32, 64, 64]  # the number of feature maps changes every second block
    out = net(torch.randn(5, 1, 900))
    assert out.shape == (5, 512) == (5, net.embedding_dim)
    shapes = get_topology("liu-spectra").layer_shapes(1, 900)
    assert [s.shape for s in shapes if s.type == "maxpool"] == [(16, 440), (16, 210), (32, 100), (32, 45),
                                                              (64, 20), (64, 8)]


def test_liu_twin_refuses_too_short_spectra():
    topology = get_topology("liu-spectra")
    minimum = topology.min_input_size(1)
    assert build("liu-spectra", 1, minimum)(torch.zeros(2, 1, minimum)).shape[0] == 2
    with pytest.raises(UserError, match="at least"):
        build("liu-spectra", 1, minimum - 1)
