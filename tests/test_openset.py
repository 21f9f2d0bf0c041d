"""Open-set identification: the margin rule, the loss of eqs. (21)-(22), rejection of a class never
seen in training, the threshold calibration rule, and the protocol end to end."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import TINY_1D

from dissim.eval.openset import OpenSetCNN, OpenSetSiamese
from dissim.pipelines.run import main as run_main
from dissim.train.losses import ContrastiveCELoss, ContrastiveLoss
from dissim.train.losses.contrastive import largest_centre_distance
from dissim.train.samplers import LabelledPairSampler


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_eta_is_the_largest_distance_between_class_centres():
    features = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 2.0], [0.0, 6.0], [0.0, 8.0]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])  # centres (1, 0), (10, 1), (0, 7)
    expected = max(np.hypot(9, 1), np.hypot(1, 7), np.hypot(10, 6))
    assert largest_centre_distance(features, labels).item() == pytest.approx(expected)

    class Identity(torch.nn.Module):
        def embed(self, data):
            return data, None

    loss = ContrastiveLoss(2, margin=None)
    loss.prepare_epoch(Identity(), features, np.array(["a", "a", "b", "b", "c", "c"]))
    assert loss.margin_value.item() == pytest.approx(expected)
    loss.prepare_epoch(Identity(), features / 10, np.array(["a", "a", "b", "b", "c", "c"]))
    assert loss.margin_value.item() == pytest.approx(expected)  # never below its value before training


def test_the_loss_equals_a_hand_computation_of_equations_21_and_22():
    f1 = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]])
    f2 = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    target = torch.tensor([[1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1]])  # same, c1, c2
    loss = ContrastiveCELoss(2, n_classes=2, margin=2.0, alpha1=0.7, alpha2=0.3, ce_margin=2.5, ce_weight=0.0)
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        loss.classifier.bias.zero_()
    d = np.array([1.0, 0.0, 3.0])  # ‖f1 − f2‖
    y = np.array([0, 1, 1])  # 1 = different classes
    l_sm = np.sum((1 - y) * d ** 2 + y * np.maximum(2.0 - d, 0) ** 2) / (2 * 3)

    def ce(f, c):
        z = np.array(f)
        return -(z[c] - np.log(np.exp(z).sum()))

    ce1 = np.array([ce([0, 0], 0), ce([1, 1], 1), ce([3, 0], 0)])
    ce2 = np.array([ce([0, 1], 0), ce([1, 1], 0), ce([0, 0], 1)])
    delta = ce1 - ce2
    difference = np.mean((1 - y) * delta + y * np.maximum(2.5 - delta, 0) ** 2)
    assert loss(f1, f2, target).item() == pytest.approx(0.7 * l_sm + 0.3 * difference, rel=1e-5)
    loss.ce_weight = 0.5
    assert loss(f1, f2, target).item() == pytest.approx(0.7 * l_sm + 0.3 * difference + 0.25 * (ce1 + ce2).mean(),
                                                        rel=1e-5)
    assert ContrastiveLoss(2, margin=2.0)(f1, f2, target).item() == pytest.approx(l_sm, rel=1e-5)


def test_labelled_pairs_hold_every_positive_and_three_times_as_many_negatives():
    labels = np.repeat(["v", "w", "x", "y", "z"], 4)
    sampler = LabelledPairSampler(labels, np.random.default_rng(0))
    assert sampler.batches_per_epoch(120) == 1
    groups, target = sampler.sample(120)
    same = labels[groups[0]] == labels[groups[1]]
    assert same.sum() == 30 and (~same).sum() == 90  # every one of 5 x C(4, 2) positives, and 1:3
    assert np.array_equal(target[:, 0], same) and np.array_equal(sampler.classes[target[:, 1].astype(int)],
                                                                  labels[groups[0]])


def toy_signals(n_per_class: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 1-D signals: a bump at a class-specific place, plus noise."""
    grid = np.arange(64)
    x = np.concatenate([np.exp(-0.5 * ((grid - 12 - 20 * c) / 3.0) ** 2) + 0.05 * rng.standard_normal((n_per_class, 64))
                        for c in range(3)])
    return x, np.repeat([0, 1, 2], n_per_class)


def test_a_class_never_seen_in_training_is_rejected_and_known_ones_are_identified():
    rng = np.random.default_rng(0)
    x, y = toy_signals(20, rng)
    train = np.concatenate([np.flatnonzero(y == c)[:12] for c in (0, 1)])
    test = np.setdiff1d(np.arange(60), train)
    model = OpenSetSiamese(topology=TINY_1D, margin=2.5, epochs=40, batch_size=32, random_state=0).fit(x[train], y[train])
    predicted = model.predict(x[test])
    truth = y[test]
    assert np.mean(predicted[truth == 2] == "unknown") >= 0.9
    assert np.mean(predicted[truth != 2] == truth[truth != 2]) >= 0.9
    assert model.class_scores(x[test]).shape == (len(test), 2) and model.decision_function(x[test]).shape == (len(test),)
    closed = OpenSetCNN(topology=TINY_1D, reject=False, epochs=60, batch_size=32, random_state=0).fit(x[train], y[train])
    assert not np.any(closed.predict(x[test]) == "unknown")  # a closed-set classifier always names a class


@pytest.mark.parametrize("make", [
    lambda: OpenSetSiamese(topology=TINY_1D, margin=2.5, epochs=5, batch_size=32, false_rejection=0.1, random_state=1),
    lambda: OpenSetCNN(topology=TINY_1D, epochs=10, batch_size=32, false_rejection=0.1, random_state=1),
    lambda: OpenSetCNN(topology=TINY_1D, rejection_score="energy", epochs=10, batch_size=32, false_rejection=0.1, random_state=1),
])
def test_the_threshold_rejects_the_stated_fraction_of_the_training_data(make):
    x, y = toy_signals(20, np.random.default_rng(2))
    model = make().fit(x, y)
    rejected = np.mean(model.predict(x) == "unknown")
    assert abs(rejected - 0.1) <= 1 / 60 + 1e-9
    fixed = make().set_params(threshold=-1e9).fit(x, y)
    assert not np.any(fixed.predict(x) == "unknown")  # a threshold set by hand is used as given


def test_the_energy_score_is_logsumexp_of_the_logits_with_its_own_threshold_from_the_same_network():
    x, y = toy_signals(20, np.random.default_rng(3))
    model = OpenSetCNN(topology=TINY_1D, epochs=10, batch_size=32, false_rejection=0.2, random_state=0).fit(x, y)
    logits = model.loss_.logits(model.net_.embed(model.input_shape_(x))[0]).detach().numpy()
    energy = np.log(np.exp(logits).sum(1))
    assert model.thresholds_["energy"] == pytest.approx(np.quantile(energy, 0.2), rel=1e-5)
    msp = model.predict(x)
    model.set_params(rejection_score="energy")  # no refit: the same network, the other score and threshold
    assert np.array_equal(model.predict(x) == "unknown", energy < model.thresholds_["energy"])
    assert model.set_params(rejection_score="max-softmax").predict(x).tolist() == msp.tolist()
    with pytest.raises(ValueError, match="score must be one of"):
        OpenSetCNN(topology=TINY_1D, rejection_score="odin", epochs=1).fit(x, y)


def test_openset_recipe_end_to_end(tmp_path, capsys):
    recipe = tmp_path / "o.toml"
    recipe.write_text('protocol = "openset"\n[settings]\ntopology = "' + TINY_1D + '"\nmin_per_class = 20\n'
                      "train_per_class = 10\nepochs = 2\ncnn_epochs = 3\nbatch_size = 32\n")
    out = tmp_path / "out"
    status = run_main(["--dataset", "coffee", "--pipeline", str(recipe), "--out", str(out), "--no-progress",
                       "--jobs", "1"])
    assert status == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert [r["method"] for r in rows] == ["siamese-contrastive-ce", "siamese-contrastive", "closed-set-cnn",
                                           "closed-set-cnn-max-softmax", "closed-set-cnn-energy"]
    assert list(rows[0]) == ["method", "Brasil", "Ethiopia", "Vietnam", "unknown", "average"]
    assert float(rows[2]["unknown"]) == 0.0  # the closed-set CNN never rejects
    for row in rows:
        values = [float(row[c]) for c in ("Brasil", "Ethiopia", "Vietnam", "unknown")]
        assert float(row["average"]) == pytest.approx(np.mean(values), abs=0.01)
