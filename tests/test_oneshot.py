"""The one-shot protocol, its matchers, the Siamese training schedule and a tiny end-to-end run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dissim.data import load_dataset
from dissim.data.splits import make_partitions
from dissim.errors import UserError
from dissim.eval import LMNNMatcher, NearestCosine, NearestL2, SiameseMatcher
from dissim.eval.metrics import accuracy_and_macro_f1 as score_predictions
from dissim.pipelines.run import main as run_main
from dissim.protocols.oneshot.settings import parse_method

METHODS = ["nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", "nn-cosine-als", "lmnn-als", "siamese-als"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def rruff():
    return load_dataset("rruff-ir")


def test_partitions_split_classes_disjointly_with_one_reference_per_test_class(rruff):
    labels = rruff.labels
    parts = make_partitions(labels, 3, seed=7)
    assert [p.number for p in parts] == [1, 2, 3]
    for p in parts:
        assert (len(p.train_classes), len(p.val_classes), len(p.test_classes)) == (86, 17, 69)  # of 172
        assert not set(p.train_classes) & set(p.test_classes)
        assert not set(p.val_classes) & (set(p.train_classes) | set(p.test_classes))
        assert sorted(labels[p.reference_index]) == sorted(p.test_classes)  # exactly one each
        assert set(labels[p.query_index]) <= set(p.test_classes)
        test_items = np.flatnonzero(np.isin(labels, p.test_classes))
        assert sorted(np.concatenate([p.reference_index, p.query_index])) == sorted(test_items)
        assert set(labels[p.train_index]) == set(p.train_classes)
        assert np.all(np.bincount(labels)[p.train_classes] >= 2)
    assert not np.array_equal(parts[0].test_classes, parts[1].test_classes)
    again = make_partitions(labels, 3, seed=7)
    assert all(np.array_equal(a.reference_index, b.reference_index) for a, b in zip(parts, again))


def test_distractors_are_the_classes_too_small_to_split(rruff):
    part = make_partitions(rruff.labels, 1, seed=1, distractors=True)[0]
    singles = np.flatnonzero(np.bincount(rruff.labels) == 1)
    assert len(part.reference_index) == 69 + len(singles) == 69 + 281
    assert set(rruff.labels[part.reference_index[69:]]) == set(singles)


def test_too_few_classes_is_a_clear_error():
    labels = np.repeat(np.arange(3), 20)  # coffee-like: 3 classes
    with pytest.raises(UserError, match="at least 15 classes.*it has 3"):
        make_partitions(labels, 1, seed=1, dataset="coffee")
    with pytest.raises(UserError, match="fractions"):
        make_partitions(np.repeat(np.arange(30), 2), 1, seed=1, fractions=(0.5, 0.5, 0.5))


def test_scores_and_nearest_neighbour_matchers():
    true = np.array([0, 0, 1, 2])
    accuracy, macro_f1 = score_predictions(true, np.array([0, 1, 1, 2]))
    assert accuracy == 75.0
    assert macro_f1 == pytest.approx(100 * np.mean([2 / 3, 2 / 3, 1.0]))
    refs = np.array([[1.0, 0.0], [0.0, 3.0]])
    queries = np.array([[2.0, 0.1], [0.2, 2.5]])
    l2, cosine = NearestL2().fit(refs), NearestCosine().fit(refs)
    assert l2.similarity(queries, refs).argmax(1).tolist() == [0, 1]
    assert np.allclose(cosine.similarity(refs, refs), np.eye(2))
    # L2 and cosine disagree when lengths differ: [2.5, 3] is nearer [1, 0] but points like [0, 6]
    q, r = np.array([[2.5, 3.0]]), np.array([[1.0, 0.0], [0.0, 6.0]])
    assert l2.similarity(q, r).argmax() == 0
    assert cosine.similarity(q, r).argmax() == 1
    assert parse_method("lmnn-als") == ("lmnn", True)
    with pytest.raises(UserError, match="unknown one-shot method"):
        parse_method("svm")


def test_lmnn_learns_a_metric_that_ignores_a_noisy_dimension():
    rng = np.random.default_rng(0)
    n = 40
    y = np.repeat(np.arange(8), n // 8)
    signal = y[:, None] * 1.0 + 0.05 * rng.standard_normal((n, 1))
    noise = 5.0 * rng.standard_normal((n, 1))  # dominates L2, carries no class information
    x = np.hstack([signal, noise])
    lmnn = LMNNMatcher(pca_components=2, max_iter=300, learn_rate=1e-3).fit(x, y)
    components = lmnn.lmnn_.components_ @ lmnn.pca_.components_  # in the original coordinates
    assert np.linalg.norm(components[:, 0]) > 3 * np.linalg.norm(components[:, 1])


def test_training_halves_the_lr_and_keeps_the_best_validation_epoch(rruff):
    part = make_partitions(rruff.labels, 1, seed=3)[0]
    from dissim.data.spectral import SpectralPreprocessing

    x = SpectralPreprocessing()(rruff.spectra)
    y = rruff.labels
    matcher = SiameseMatcher(epochs=4, batch_size=32, lr=1e-3, lr_halving_epochs=2, patience=10, random_state=0,
                             device="cpu")
    matcher.fit(x[part.train_index], y[part.train_index], validation=(x[part.val_index], y[part.val_index]))
    history = matcher.history_
    assert history.lr == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4])
    assert len(history.train_loss) == len(history.val_ranking) == 4
    scores = [(r, -l) for r, l in zip(history.val_ranking, history.val_loss)]
    assert history.best_epoch == 1 + max(range(4), key=lambda i: scores[i])
    positive_pairs = sum(c * (c - 1) // 2 for c in np.bincount(y[part.train_index]) if c)
    assert history.batches_per_epoch == -(-positive_pairs // 16)
    assert len(history.step_loss) == 4 * history.batches_per_epoch
    assert not matcher.net_.training
    assert matcher.transform(x[:5]).shape == (5, matcher.net_.embedding_dim)


def write_recipe(path, **changes):
    settings = {"methods": METHODS, "partitions": 2, "epochs": 1, "batch_size": 32, "patience": 2,
                "lmnn_pca": 10, "lmnn_max_iter": 5, "threads": 1}
    settings.update(changes)
    lines = ['protocol = "oneshot"', 'description = "tiny one-shot test"', "[settings]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tiny_end_to_end_run_writes_the_table(tmp_path, capsys):
    recipe = write_recipe(tmp_path / "tiny.toml")
    out = tmp_path / "out"
    status = run_main(["--pipeline", str(recipe), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    with open(out / "table.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["method", "partition_1", "partition_2", "mean", "std"]
    assert [r[0] for r in rows[1:]] == METHODS
    values = np.array([[float(v) for v in r[1:3]] for r in rows[1:]])
    assert np.all((values >= 0) & (values <= 100))
    assert np.allclose([float(r[3]) for r in rows[1:]], values.mean(1), atol=0.006)
    nn_cosine = dict((r[0], float(r[3])) for r in rows[1:])["nn-cosine"]
    assert nn_cosine > 60  # a sanity floor: plain cosine matching works on these spectra
    f1 = (out / "table-macro-f1.csv").read_text().splitlines()
    assert len(f1) == 1 + len(METHODS)
    md = (out / "table.md").read_text()
    assert "## Accuracy" in md and "## Macro-F1" in md and "siamese vs nn-l2:" in md
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["name"] == "rruff-ir" and len(config["partitions"]) == 2
    assert config["recipe"]["settings"]["epochs"] == 1
    assert {"tsne-partition1.png", "training-partition1.png"} <= {p.name for p in (out / "figures").iterdir()}
    # a second run takes every result from the cache and writes the same table
    status = run_main(["--pipeline", str(recipe), "--out", str(tmp_path / "again"), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 0 and captured.err.count("cached") == 2 * len(METHODS)
    assert (tmp_path / "again" / "table.csv").read_text() == (out / "table.csv").read_text()


@pytest.mark.parametrize("args, fragment", [
    (["--dataset", "coffee"], "needs at least 15 classes"),
    (["--dataset", "digits"], "not a spectral data set"),
    (["--prototypes", "3"], "--prototypes does not apply"),
    (["--batch-size", "7"], "even"),
    (["--topologies", "sn1"], "2-D"),
])
def test_oneshot_cli_errors_exit_2_with_one_line(tmp_path, capsys, args, fragment):
    recipe = write_recipe(tmp_path / "tiny.toml")
    status = run_main(["--pipeline", str(recipe), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert status == 2 and fragment in err and err.count("\n") == 1


def test_bad_recipe_settings_are_user_errors(tmp_path, capsys):
    for changes, fragment in [({"methods": ["nn-l2", "knn"]}, "unknown one-shot method"),
                              ({"epochs": 0}, "epochs must be >= 1"),
                              ({"fractions": [0.6, 0.6, 0.1]}, "summing to 1")]:
        recipe = write_recipe(tmp_path / "bad.toml", **changes)
        assert run_main(["--pipeline", str(recipe), "--dry-run"]) == 2
        assert fragment in capsys.readouterr().err
    (tmp_path / "typo.toml").write_text('protocol = "oneshot"\n[settings]\nepoch = 3\n')
    assert run_main(["--pipeline", str(tmp_path / "typo.toml")]) == 2
    assert "unknown settings ['epoch']" in capsys.readouterr().err


def test_dry_run_describes_the_default_recipe(capsys):
    assert run_main(["--pipeline", "oneshot", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "pipeline oneshot on rruff-ir" in out and "86 train / 17 validation / 69 test classes" in out


def test_one_runner_serves_one_shot_too_parallel_tasks_and_fuse_only_give_the_same_table(tmp_path, capsys,
                                                                                          monkeypatch):
    recipe = write_recipe(tmp_path / "small.toml", methods=["nn-cosine", "siamese"])
    base = ["--pipeline", str(recipe), "--no-progress"]
    assert run_main([*base, "--out", str(tmp_path / "one")]) == 0
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    assert run_main([*base, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    assert run_main([*base, "--fuse-only", "--out", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    table = (tmp_path / "one" / "table.csv").read_text()
    assert (tmp_path / "two" / "table.csv").read_text() == table
    assert (tmp_path / "again" / "table.csv").read_text() == table
    predicted = np.load(tmp_path / "one" / "scores" / "siamese.npz")
    assert len(predicted["partition_1_predicted"]) == len(predicted["partition_1_query_index"])
