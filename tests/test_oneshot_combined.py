"""Matchers that combine (sum rule, LMNN on a network's features, frozen CNN features), training on
the classes too small to split, and the proof that no validation or test spectrum reaches a network."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import TINY_1D

from dissim.data import load_dataset
from dissim.data.splits import make_partitions
from dissim.eval import LMNNMatcher, NearestCosine, NearestL2
from dissim.eval.matchers.cnn_features import CNNFeaturesMatcher
from dissim.eval.matchers.siamese_lmnn import EmbeddingLMNNMatcher
from dissim.eval.matchers.sum_rule import SumRuleMatcher, fuse_similarities
from dissim.pipelines.run import main as run_main
from dissim.protocols.base import task_seed
from dissim.protocols.oneshot.settings import OneShotSettings, preprocessings
from dissim.train.samplers import ClassPairItemSampler


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def blobs(seed=0, classes=6, per_class=4, dims=5):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((classes, dims))
    y = np.repeat(np.arange(classes), per_class)
    return centres[y] + rng.standard_normal((len(y), dims)), y


def test_the_sum_rule_z_scores_each_member_by_its_similarities_among_the_references():
    x, y = blobs()
    queries, references = x[1::4], x[0::4]
    fused = SumRuleMatcher([("l2", NearestL2()), ("cos", NearestCosine())]).fit(x, y)
    by_hand = 0
    for member in (NearestL2().fit(x), NearestCosine().fit(x)):
        among = member.similarity(references, references)[~np.eye(len(references), dtype=bool)]
        by_hand = by_hand + (member.similarity(queries, references) - among.mean()) / among.std()
    assert np.allclose(fused.similarity(queries, references), by_hand)
    # one member: the z-score is increasing, so the fused ranking is that member's
    alone = SumRuleMatcher([("l2", NearestL2())]).fit(x, y).similarity(queries, references)
    assert np.array_equal(alone.argmax(1), NearestL2().fit(x).similarity(queries, references).argmax(1))
    assert fused.transform(x[:3]).shape == (3, 2 * x.shape[1])
    with pytest.raises(ValueError, match="square"):
        fuse_similarities([np.zeros((2, 3))], [np.zeros((3, 2))])
    with pytest.raises(ValueError, match="unique"):
        SumRuleMatcher([("a", NearestL2()), ("a", NearestCosine())]).fit(x, y)


def test_lmnn_on_a_prefit_embedding_learns_only_the_metric():
    x, y = blobs(1)
    identity = NearestL2().fit(x)  # transform(x) = x: LMNN on it is LMNN on the raw items
    built = EmbeddingLMNNMatcher(embedding=identity, prefit=True, pca_components=4, max_iter=20).fit(x, y)
    plain = LMNNMatcher(pca_components=4, max_iter=20).fit(x, y)
    assert built.embedding_ is identity
    assert np.allclose(built.similarity(x[:5], x[5:]), plain.similarity(x[:5], x[5:]))
    with pytest.raises(ValueError, match="prefit"):
        EmbeddingLMNNMatcher(prefit=True).fit(x, y)


def test_cnn_features_are_a_classifier_of_every_training_class_compared_by_cosine():
    x, y = blobs(2, classes=5, per_class=3, dims=24)
    x, y = np.vstack([x, x[:1] + 1.0]), np.append(y, 9)  # a class of one spectrum is a class too
    matcher = CNNFeaturesMatcher(topology=TINY_1D, epochs=2, batch_size=8, networks=2, random_state=0,
                                 device="cpu").fit(x, y)
    assert matcher.loss_.classifier.out_features == 6 and len(matcher.nets_) == 2
    similarity = matcher.similarity(x[:4], x)
    assert similarity.shape == (4, len(x)) and np.all(similarity <= 1 + 1e-5) and np.all(similarity >= -1 - 1e-5)
    assert np.allclose(np.diag(similarity[:, :4]), 1, atol=1e-5)
    assert not hasattr(matcher, "predict")  # a matcher of references, never a classifier of its own classes


def test_a_class_of_one_item_gives_it_twice_only_with_single_views():
    labels = np.array([0, 0, 1, 1, 2, 3, 4])  # classes 2, 3, 4 hold one item each
    plain = ClassPairItemSampler(labels, np.random.default_rng(0))
    views = ClassPairItemSampler(labels, np.random.default_rng(0), single_views=True)
    for _ in range(20):
        items, = plain.sample(4)[0]
        assert set(labels[items]) <= {0, 1} and len(set(items)) == 4
        items, target = views.sample(10)
        items = items[0]
        assert len(items) == 10 and sorted(labels[items]) == sorted(np.repeat(np.arange(5), 2))
        for c in (2, 3, 4):
            assert len(set(items[labels[items] == c])) == 1  # the same spectrum twice
        for c in (0, 1):
            assert len(set(items[labels[items] == c])) == 2  # two different spectra


def write_recipe(path, **settings):
    lines = ['protocol = "oneshot"', 'description = "combined matchers test"', "[settings]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


COMBINED = {"methods": ["nn-cosine", "lmnn", "siamese", "siamese-lmnn", "cnn-features", "nn-cosine-als",
                        "siamese+lmnn", "siamese+nn-cosine-als", "siamese+lmnn+nn-cosine-als"],
            "partitions": 2, "topology": TINY_1D, "loss": "batch-hard", "features": "l2", "epochs": 1,
            "cnn_epochs": 1, "cnn_networks": 2, "early_stopping": "none", "batch_size": 16, "small_classes": "networks",
            "augment": True, "lmnn_pca": 8, "lmnn_max_iter": 5, "threads": 1, "primary": "siamese+lmnn"}


def test_no_validation_or_test_spectrum_reaches_a_network_and_the_small_classes_do(tmp_path, capsys, monkeypatch):
    import dissim.train.twin as twin

    trained = []
    real_fit = twin.fit

    def recording_fit(net, loss, optimizer, data, sampler, **options):
        trained.append(data.detach().cpu().numpy().copy())
        return real_fit(net, loss, optimizer, data, sampler, **options)

    monkeypatch.setattr(twin, "fit", recording_fit)
    out = tmp_path / "out"
    assert run_main(["--pipeline", str(write_recipe(tmp_path / "r.toml", **COMBINED)), "--out", str(out),
                     "--jobs", "1", "--no-progress"]) == 0, capsys.readouterr().err
    data = load_dataset("rruff-ir")
    inputs = {als: prep(data.spectra).astype(np.float32) for als, prep in preprocessings(OneShotSettings()).items()}
    partitions = make_partitions(data.labels, 2, seed=1)
    # per partition: siamese (raw), cnn-features (raw, 2 networks); siamese-lmnn reuses the siamese network
    assert len(trained) == 2 * (1 + 2)
    seen = set()
    for rows in trained:
        rows_bytes = {r.tobytes() for r in rows}
        matches = []
        for p in partitions:
            for als in (False, True):
                x = inputs[als]
                allowed = {x[i].tobytes() for i in np.concatenate([p.train_index, p.small_class_index])}
                forbidden = {x[i].tobytes() for i in np.concatenate([p.val_index, p.reference_index, p.query_index])}
                if rows_bytes <= allowed:
                    assert not rows_bytes & forbidden
                    assert {x[i].tobytes() for i in p.small_class_index} <= rows_bytes  # they did train
                    matches.append((p.number, als))
        assert len(matches) == 1, "every training set is one partition's training and small classes, nothing else"
        seen.add(matches[0])
    assert seen == {(1, False), (2, False)}
    rows = {r["method"]: r for r in csv.DictReader((out / "table.csv").open())}
    assert list(rows) == COMBINED["methods"]
    md = (out / "table.md").read_text()
    assert "siamese+lmnn (the recipe's primary row, chosen on validation classes)" in md
    assert "Holm-adjusted over the 6 rows" in md and "281 spectra of the classes with fewer than 2" in md


def test_a_fused_row_equals_the_sum_rule_matcher_on_the_same_partition(tmp_path, capsys):
    recipe = write_recipe(tmp_path / "f.toml", methods=["nn-cosine", "lmnn", "nn-l2-als", "lmnn+nn-cosine",
                                                        "nn-cosine+nn-l2-als"],
                          partitions=1, lmnn_pca=8, lmnn_max_iter=5, threads=1)
    out = tmp_path / "out"
    assert run_main(["--pipeline", str(recipe), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    capsys.readouterr()
    data = load_dataset("rruff-ir")
    p = make_partitions(data.labels, 1, seed=1)[0]
    x = preprocessings(OneShotSettings())[False](data.spectra)
    config = json.loads((out / "config.json").read_text())
    lmnn = LMNNMatcher(pca_components=8, max_iter=5, random_state=task_seed(1, 1, "lmnn") % 2**31)
    fused = SumRuleMatcher([("lmnn", lmnn), ("nn-cosine", NearestCosine())])
    fused.fit(x[p.train_index], data.labels[p.train_index])
    expected = data.labels[p.reference_index][fused.similarity(x[p.query_index], x[p.reference_index]).argmax(1)]
    stored = np.load(out / "scores" / "lmnn+nn-cosine.npz")
    assert np.array_equal(stored["partition_1_predicted"], expected)
    assert config["results"]["lmnn+nn-cosine"]["fusion_of"] == ["lmnn", "nn-cosine"]


@pytest.mark.parametrize("changes, fragment", [
    ({"methods": ["nn-l2", "nn-l2+lmnn"]}, "'lmnn', which is not in methods"),
    ({"methods": ["nn-l2", "nn-l2+nn-l2"]}, "two or more different methods"),
    ({"methods": ["nn-l2", "sum-rule"]}, "name a fusion by the methods it joins"),
    ({"methods": ["nn-l2"], "primary": "lmnn"}, "primary = 'lmnn' is not one of the methods"),
    ({"methods": ["nn-l2"], "small_classes": "networks", "distractors": True}, "cannot train"),
])
def test_bad_combined_recipes_are_user_errors(tmp_path, capsys, changes, fragment):
    assert run_main(["--pipeline", str(write_recipe(tmp_path / "bad.toml", **changes)), "--dry-run"]) == 2
    assert fragment in capsys.readouterr().err


def test_partitions_hold_the_small_classes_apart_unless_they_are_distractors():
    data = load_dataset("rruff-ir")
    p = make_partitions(data.labels, 1, seed=1)[0]
    counts = np.bincount(data.labels)
    assert len(p.small_class_index) == 281 and np.all(counts[data.labels[p.small_class_index]] == 1)
    used = np.concatenate([p.train_index, p.val_index, p.reference_index, p.query_index])
    assert not set(p.small_class_index) & set(used)
    assert len(make_partitions(data.labels, 1, seed=1, distractors=True)[0].small_class_index) == 0
