"""The seen-class protocol (Liu et al. §3.2): one held-out query per training class, the CNN
classifier row, -aug rows, ensembles and the paired comparison of the table."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dissim.data import load_dataset
from dissim.data.splits import make_seen_partitions
from dissim.errors import UserError
from dissim.eval import CNNClassifierMatcher, SiameseMatcher
from dissim.eval.matcher_state import matcher_state
from dissim.eval.report import Row
from dissim.pipelines.run import main as run_main
from dissim.protocols.oneshot.report import paired_comparison
from dissim.protocols.oneshot.settings import (
    OneShotSettings,
    is_augmented,
    parse_method,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def rruff():
    return load_dataset("rruff-ir")


def test_seen_partitions_hold_out_exactly_one_spectrum_of_every_training_class(rruff):
    labels = rruff.labels
    parts = make_seen_partitions(labels, 3, seed=4, validation_fraction=0.1)
    eligible = np.flatnonzero(np.bincount(labels) >= 2)
    for p in parts:
        assert np.array_equal(p.test_classes, p.train_classes)
        assert sorted(labels[p.query_index]) == sorted(p.train_classes)  # one query per class, no more
        assert len(p.query_index) == len(p.train_classes)
        assert not set(p.query_index) & set(p.train_index)
        assert np.array_equal(p.reference_index, p.train_index)
        assert set(labels[p.train_index]) == set(p.train_classes)  # every class keeps a reference
        train_and_query = np.flatnonzero(np.isin(labels, p.train_classes))
        assert sorted(np.concatenate([p.train_index, p.query_index])) == sorted(train_and_query)
        assert not set(p.val_classes) & set(p.train_classes)
        assert sorted(np.concatenate([p.val_classes, p.train_classes])) == sorted(eligible)
        assert len(p.val_classes) == round(0.1 * len(eligible))
    assert not np.array_equal(parts[0].query_index, parts[1].query_index)
    again = make_seen_partitions(labels, 3, seed=4, validation_fraction=0.1)
    assert all(np.array_equal(a.query_index, b.query_index) for a, b in zip(parts, again))


def test_method_names_carry_input_and_augmentation():
    assert parse_method("siamese-aug-als") == ("siamese", True)
    assert parse_method("cnn-aug") == ("cnn", False)
    s = OneShotSettings(methods=("siamese", "siamese-aug", "cnn-aug-als"), augment=True)
    assert [is_augmented(m, s) for m in s.methods] == [False, True, True]
    plain = OneShotSettings(methods=("siamese", "cnn", "lmnn"), augment=True)  # no -aug row: every network
    assert [is_augmented(m, plain) for m in plain.methods] == [True, True, False]
    assert not is_augmented("siamese", OneShotSettings(methods=("siamese",)))


def write_recipe(path, **changes):
    settings = {"classes": "seen", "fractions": [0.9, 0.1, 0.0], "methods": ["nn-cosine", "cnn", "siamese-aug"],
                "partitions": 2, "epochs": 1, "batch_size": 32, "patience": 2, "augment": ["shift:0.5", "mix:0.5"],
                "loss": "batch-hard", "features": "l2", "triplet_margin": 0.2, "networks": 2, "threads": 1}
    settings.update(changes)
    lines = ['protocol = "oneshot"', 'description = "tiny seen-class test"', "[settings]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tiny_seen_class_run_has_the_cnn_row_and_the_paired_comparison(tmp_path, capsys):
    out = tmp_path / "out"
    status = run_main(["--pipeline", str(write_recipe(tmp_path / "seen.toml")), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    with open(out / "table.csv", newline="") as handle:
        rows = {r[0]: r[1:] for r in list(csv.reader(handle))[1:]}
    assert list(rows) == ["nn-cosine", "cnn", "siamese-aug"]
    assert float(rows["nn-cosine"][2]) > 50  # seen classes, all the training spectra as references
    md = (out / "table.md").read_text()
    assert "seen (training) classes" in md and "Augmentation of siamese-aug" in md
    assert "best Siamese row siamese-aug" in md and "sign test" in md
    assert "batch-hard triplet loss (margin 0.2" in md and "an ensemble of 2 networks" in md
    config = json.loads((out / "config.json").read_text())
    assert config["partitions"][0]["queries"] == config["partitions"][0]["train_classes"]


@pytest.mark.parametrize("changes, fragment", [
    ({"classes": "unseen", "fractions": [0.5, 0.1, 0.4]}, 'needs classes = "seen"'),
    ({"fractions": [0.5, 0.1, 0.4]}, "fractions = [1 - v, v, 0.0]"),
    ({"augment": False}, "augment = false"),
    ({"augment": ["warp:0.5"]}, "unknown transform"),
    ({"distractors": True, "methods": ["nn-cosine"]}, "distractors apply"),
])
def test_bad_seen_settings_are_user_errors(tmp_path, capsys, changes, fragment):
    assert run_main(["--pipeline", str(write_recipe(tmp_path / "bad.toml", **changes)), "--dry-run"]) == 2
    assert fragment in capsys.readouterr().err


def test_cnn_classifier_predicts_training_classes_and_an_ensemble_averages_similarities():
    rng = np.random.default_rng(0)
    centres = rng.random((5, 120))
    X = (np.repeat(centres, 6, axis=0) + 0.02 * rng.random((30, 120))).astype(np.float32)
    y = np.repeat(np.array(["a", "b", "c", "d", "e"]), 6)
    cnn = CNNClassifierMatcher(epochs=20, batch_size=8, validation_fraction=0, device="cpu", random_state=0).fit(X, y)
    assert set(cnn.predict(X)) <= set(y) and np.mean(cnn.predict(X) == y) > 0.8
    assert np.allclose(cnn.predict_proba(X).sum(1), 1, atol=1e-5)
    pair = SiameseMatcher(epochs=1, batch_size=8, networks=2, validation_fraction=0, device="cpu",
                          random_state=3).fit(X, y)
    single = SiameseMatcher(epochs=1, batch_size=8, validation_fraction=0, device="cpu", random_state=3)
    assert pair.transform(X).shape == (30, 2 * pair.net_.embedding_dim)
    first = single.fit(X, y).similarity(X[:4], X[4:])
    dim = pair.net_.embedding_dim
    assert np.allclose(pair.transform(X[:2])[:, :dim], single.transform(X[:2]))  # member 0 = the single net
    mean = pair.similarity(X[:4], X[4:])
    assert not np.allclose(mean, first)
    q, r = pair.input_shape_(X[:4]), pair.input_shape_(X[4:])
    members = [pair.losses_[k].similarity(pair.nets_[k].embed(q)[0], pair.nets_[k].embed(r)[0]) for k in range(2)]
    assert np.allclose(mean, (members[0] + members[1]).detach().numpy() / 2, atol=1e-6)
    with pytest.raises(UserError, match="single-network"):
        matcher_state(pair)  # a library file holds one network


def test_paired_comparison_reports_the_per_partition_differences_of_the_best_rows():
    rows = [Row("nn-cosine", (70.0, 80.0, 75.0), kind="baseline"), Row("lmnn", (80.0, 85.0, 82.0), kind="baseline"),
            Row("siamese", (60.0, 70.0, 65.0)), Row("siamese-aug", (83.0, 86.0, 81.0))]
    lines = paired_comparison(rows)
    assert "siamese-aug" in lines[0] and "lmnn" in lines[0] and "+3.00, +1.00, -1.00" in lines[0]
    assert "mean +1.00" in lines[0] and "higher on 2, lower on 1 of 3 partitions" in lines[1]
