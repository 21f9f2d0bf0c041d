"""Pair verification (Borsani 2023): pairs, augmentation, He initialisation, metrics, the verifier
and the protocol end to end."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits

from dissim import PairVerifier
from dissim.eval.metrics import best_f1_threshold, pair_accuracy_jaccard, pair_confusion
from dissim.nets import SiameseNet, get_topology
from dissim.nets.heads import PairHead
from dissim.pipelines.run import main as run_main
from dissim.train.augment import FlipsGreyscale
from dissim.train.samplers import PartnerPairSampler, partner_pairs

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_every_item_gets_five_distinct_partners_never_itself_and_the_labels_say_same_class():
    labels = np.repeat(np.arange(4), 6)
    sampler = PartnerPairSampler(labels, np.random.default_rng(0), partners=5)
    first, second = sampler.first, sampler.second
    assert len(first) == 24 * 5
    assert np.all(np.bincount(first) == 5) and not np.any(first == second)
    for item in range(24):
        assert len(set(second[first == item])) == 5  # five different partners
    assert np.array_equal(sampler.target, (labels[first] == labels[second]).astype(np.float32))
    # an epoch serves every pair once, in shuffled batches
    served = [sampler.sample(32) for _ in range(sampler.batches_per_epoch(32))]
    pairs = np.concatenate([np.stack(g, 1) for g, _ in served])
    assert sorted(map(tuple, pairs)) == sorted(zip(first, second))
    assert partner_pairs(3, 5, np.random.default_rng(0))[0].tolist() == [0, 0, 1, 1, 2, 2]  # capped at n - 1


def test_augmentation_is_the_same_for_both_images_of_a_pair_when_paired():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.integers(0, 255, size=(64, 3, 6, 6), dtype=np.uint8))
    paired = FlipsGreyscale(seed=1, p=0.7, paired=True)([a, a.clone()])
    assert torch.equal(paired[0], paired[1])  # the same image, the same view
    assert not torch.equal(paired[0], a)  # and some were changed
    grey = (paired[0][:, 0] == paired[0][:, 1]).flatten(1).all(1) & (paired[0][:, 1] == paired[0][:, 2]).flatten(1).all(1)
    assert 0.5 < grey.float().mean() < 0.9  # greyscale with probability 0.7
    unpaired = FlipsGreyscale(seed=1, p=0.7, paired=False)([a, a.clone()])
    assert not torch.equal(unpaired[0], unpaired[1])
    untouched = FlipsGreyscale(seed=1, p=0.0)([a])
    assert torch.equal(untouched[0], a)


def test_he_initialisation_statistics():
    torch.manual_seed(0)
    net = SiameseNet(get_topology("borsani"), in_channels=3, input_size=75)
    fc = net.backbone.layers.fc
    weight = fc.weight if hasattr(fc, "weight") else fc[1].weight
    fan_in = weight.shape[1]
    assert fan_in == 2268  # the paper's Linear(2268, 18)
    assert weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    assert weight.mean().item() == pytest.approx(0, abs=0.005)
    conv = net.backbone.layers.conv3
    assert conv.weight.std().item() == pytest.approx((2 / (5 * 9)) ** 0.5, rel=0.1)
    head = PairHead(4000, init="he")
    assert head.weight.std().item() == pytest.approx((2 / 4000) ** 0.5, rel=0.05)
    big = torch.nn.Linear(4000, 20000)
    from dissim.nets.backbone import he_normal_

    he_normal_(big)
    assert big.bias.mean().item() == pytest.approx(0.5, abs=0.002)  # biases N(0.5, 2 / D_in)


def test_pair_metrics_equal_a_hand_computation():
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.6, 0.2, 0.1])
    targets = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    # at 0.5: same = first three and 0.6 -> TP 2 (0.9, 0.8), FP 2 (0.7, 0.6), FN 1 (0.4), TN 3
    assert pair_confusion(scores, targets, 0.5) == (2, 3, 2, 1)
    accuracy, jaccard = pair_accuracy_jaccard(scores, targets, 0.5)
    assert accuracy == pytest.approx(100 * 5 / 8) and jaccard == pytest.approx(100 * 2 / 5)
    # F1 by threshold: 0.8 -> 2*2/(4+0+1) = 0.8; 0.4 -> 2*3/(6+2+0) = 0.75; 0.9 -> 2/(2+0+2) = 0.5
    assert best_f1_threshold(scores, targets) == 0.8


def digits(n):
    bunch = load_digits()
    return bunch.images[:n] / 16.0, bunch.target[:n]


def test_the_verifier_learns_same_versus_different_and_keeps_the_estimator_contract():
    X, y = digits(300)
    verifier = PairVerifier(epochs=3, batch_size=32, input_size=16, random_state=0)
    verifier.fit(X[:240], y[:240])
    assert clone(verifier).get_params() == verifier.get_params() and not hasattr(clone(verifier), "net_")
    test_first, test_second = partner_pairs(60, 5, np.random.default_rng(1))
    pairs = np.stack([X[240:][test_first], X[240:][test_second]], axis=1)
    proba = verifier.predict_proba(pairs)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(1), 1)
    same = y[240:][test_first] == y[240:][test_second]
    assert proba[same, 1].mean() > proba[~same, 1].mean() + 0.1  # it tells them apart
    assert set(verifier.predict(pairs)) <= {0, 1} and 0 < verifier.threshold_ < 1
    maps = verifier.saliency(X[240], X[241])
    assert maps[0].shape == maps[1].shape == (16, 16) and maps[0].max() > 0
    with pytest.raises(ValueError, match="pairs must be"):
        verifier.predict_proba(X[:4])


def test_verify_recipe_end_to_end_writes_one_row_per_method(tmp_path, capsys):
    recipe = tmp_path / "v.toml"
    recipe.write_text('protocol = "verify"\n[settings]\ninput_size = 16\nepochs = 2\nbatch_size = 32\nrepeats = 2\n')
    out = tmp_path / "out"
    status = run_main(["--pipeline", str(recipe), "--out", str(out), "--no-progress", "--jobs", "1"])
    assert status == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [r["method"] for r in rows] == ["siamese-verifier", "raw-pixel-cosine"]
    assert {"accuracy", "jaccard", "threshold", "one_vs_accuracy"} <= set(rows[0])
    assert all(0 <= float(r["accuracy"]) <= 100 for r in rows)
    assert {p.name for p in (out / "figures").iterdir()} == {"saliency.png", "training_loss.png"}
    assert "(baseline)" in (out / "table.md").read_text()
    assert run_main(["--pipeline", str(recipe), "--prototypes", "3"]) == 2
    assert "does not apply to verify recipes" in capsys.readouterr().err
