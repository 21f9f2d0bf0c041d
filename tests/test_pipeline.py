"""End to end on tiny data: tables, resume, cache integrity, fuse-only, seeds, jobs, cluster backend."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TOPOLOGY, write_recipe

from dissim.experiment import RunOptions, load_recipe, run_experiment
from dissim.experiment.cache import ResultCache
from dissim.storage import cache_root


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def options(tree, out, **kw):
    return RunOptions(dataset="folder", data_root=str(tree), out=out, progress=False, threads=1, **{"jobs": 1, **kw})


@pytest.fixture
def two_members(tmp_path):
    return write_recipe(tmp_path / "two.toml", methods=("Cross", "Triplet"))


def test_tiny_end_to_end_run_writes_the_table(cli, image_tree, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", spaces=("fully", "deeper"))
    out = tmp_path / "out"
    status, stdout, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe,
                              "--out", out, "--no-progress")
    assert status == 0, err
    rows = read_csv(out / "table.csv")
    assert list(rows[0]) == ["method", "fold_1", "fold_2", "fold_3", "fold_4", "fold_5", "mean", "std"]
    names = [r["method"] for r in rows]
    assert names == ["tiny-bce-adam-fully-k2", "tiny-bce-adam-deeper-k2", "tiny-bce-adam-fully+deeper", "raw-svm",
                     "raw-svm-tuned", "raw-1-nn", "lite0-frozen-logreg"]
    for row in rows:
        folds = [float(row[f"fold_{i}"]) for i in range(1, 6)]
        assert all(0 <= a <= 100 for a in folds)
        assert float(row["mean"]) == pytest.approx(np.mean(folds), abs=0.006)
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 1 and config["recipe"]["profile"]["iterations"] == 3
    assert config["device"] == "cpu" and config["versions"]["torch"]
    assert sorted(p.name for p in (out / "scores").glob("tiny-*.npz")) == [
        "tiny-bce-adam-deeper-k2.npz", "tiny-bce-adam-fully-k2.npz"]
    scores = np.load(out / "scores" / "tiny-bce-adam-fully-k2.npz")
    assert scores["fold_1_test_scores"].shape == (6, 3)
    # the scores/ files are enough to re-fuse: z-score with the stored statistics, sum, argmax
    members = [np.load(out / "scores" / f"tiny-bce-adam-{space}-k2.npz") for space in ("fully", "deeper")]
    for fold in range(1, 6):
        fused = sum((m[f"fold_{fold}_test_scores"] - m[f"fold_{fold}_train_mean"]) / m[f"fold_{fold}_train_std"]
                    for m in members)
        labels = members[0][f"fold_{fold}_test_labels"]
        assert 100 * np.mean(fused.argmax(1) == labels) == pytest.approx(float(rows[2][f"fold_{fold}"]), abs=0.006)
    assert {p.name for p in (out / "figures").glob("*.png")} == {
        "confusion_best_fusion.png", "accuracy.png", "training_loss.png"}
    assert "tiny-bce-adam-fully+deeper" in (out / "table.md").read_text()


def test_two_member_recipe_rows(image_tree, tmp_path, two_members):
    out = run_experiment(load_recipe(str(two_members)), options(image_tree, tmp_path / "o"))
    names = [r["method"] for r in read_csv(out / "table.csv")]
    assert names == ["tiny-bce-adam-fully-k2", "tiny-triplet-adam-fully-k2", "raw-svm", "raw-svm-tuned", "raw-1-nn",
                     "lite0-frozen-logreg"]


def test_killed_run_resumes_training_only_what_is_missing(image_tree, tmp_path, two_members):
    recipe = load_recipe(str(two_members))
    recipe = type(recipe)(**{**recipe.__dict__, "folds": (1,)})
    computed = []

    def crash_after_first(task, result, from_cache):
        computed.append((task.unit.method.name, from_cache))
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(recipe, options(image_tree, tmp_path / "o"), on_task_done=crash_after_first)
    assert computed == [("Cross", False)]
    seen = []
    run_experiment(recipe, options(image_tree, tmp_path / "o"),
                   on_task_done=lambda t, r, c: seen.append((t.unit.method.name if hasattr(t, "unit") else t.label, c)))
    assert seen == [("Cross", True), ("Triplet", False), ("baselines fold 1", False),
                    ("lite0-frozen-logreg fold 1", False)]


def test_truncated_cache_entry_is_recomputed(image_tree, tmp_path, two_members):
    recipe = load_recipe(str(two_members))
    out = run_experiment(recipe, options(image_tree, tmp_path / "o"))
    table = (out / "table.csv").read_text()
    entries = sorted((cache_root() / "members").rglob("*.npz"))
    assert len(entries) == 20  # 2 networks x 5 folds, and the two baseline tasks of each fold
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 2])
    assert ResultCache(cache_root() / "members").load(entries[0].stem) is None
    seen = []
    run_experiment(recipe, options(image_tree, tmp_path / "o"), on_task_done=lambda t, r, c: seen.append(c))
    assert seen.count(False) == 1 and seen.count(True) == 19
    assert (out / "table.csv").read_text() == table  # recomputed with the same seed: same result


def test_fuse_only_reproduces_the_table_byte_for_byte(cli, image_tree, tmp_path, two_members):
    args = ["--dataset", "folder", "--data-root", image_tree, "--pipeline", two_members, "--no-progress",
            "--threads", "1"]
    assert cli(*args, "--out", tmp_path / "a")[0] == 0
    status, _, err = cli(*args, "--out", tmp_path / "b", "--fuse-only")
    assert status == 0, err
    for name in ("table.csv", "table.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_fuse_only_without_cache_says_what_is_missing(cli, image_tree, tmp_path, two_members):
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", two_members,
                         "--fuse-only", "--out", tmp_path / "x")
    assert status == 2 and "not in the cache" in err and "without --fuse-only" in err


def test_same_seed_gives_identical_tables_and_another_seed_differs(image_tree, tmp_path, two_members,
                                                                   monkeypatch):
    recipe = load_recipe(str(two_members))
    first = (run_experiment(recipe, options(image_tree, tmp_path / "a")) / "table.csv").read_text()
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    second = (run_experiment(recipe, options(image_tree, tmp_path / "b")) / "table.csv").read_text()
    assert first == second
    seed_results = ResultCache(tmp_path / "fresh-cache" / "members")
    other = run_experiment(recipe, options(image_tree, tmp_path / "c", seed=2))
    keys = json.loads((other / "config.json").read_text())["trainings"]
    first_keys = json.loads((tmp_path / "a" / "config.json").read_text())["trainings"]
    assert {k["key"] for k in keys}.isdisjoint({k["key"] for k in first_keys})
    losses = [seed_results.load(k["key"])["loss_history"] for k in (keys[0], first_keys[0])]
    assert not np.array_equal(*losses)


def test_jobs_2_gives_the_same_table_as_jobs_1(image_tree, tmp_path, two_members, monkeypatch):
    recipe = load_recipe(str(two_members))
    one = (run_experiment(recipe, options(image_tree, tmp_path / "a")) / "table.csv").read_text()
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    two = (run_experiment(recipe, options(image_tree, tmp_path / "b", jobs=2)) / "table.csv").read_text()
    assert one == two


def test_dask_backend_runs_a_two_member_recipe_on_a_local_cluster(image_tree, tmp_path, two_members, monkeypatch):
    pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    from dask.distributed import LocalCluster

    recipe = load_recipe(str(two_members))
    recipe = type(recipe)(**{**recipe.__dict__, "folds": (1, 2)})
    local = (run_experiment(recipe, options(image_tree, tmp_path / "a")) / "table.csv").read_text()
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = run_experiment(recipe, options(image_tree, tmp_path / "b", jobs=2, backend="dask",
                                             scheduler=cluster.scheduler_address))
    assert (out / "table.csv").read_text() == local


def test_dry_run_lists_members_with_cost(cli, image_tree, tmp_path, two_members):
    status, out, _ = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", two_members, "--dry-run")
    assert status == 0
    assert "2 members" in out and "tiny-bce-adam-fully-k2" in out and "tiny-triplet-adam-fully-k2" in out
    assert "TFLOP" in out
    assert not (cache_root() / "members").exists()


def test_recipe_format_example_runs(cli, image_tree, tmp_path):
    page = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    example = page.split("<!-- file: table1-small.toml -->\n```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "mine.toml").write_text(example)
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", tmp_path / "mine.toml",
                         "--topologies", TINY_TOPOLOGY, "--input-size", "16", "--iterations", "2", "--batch-size", "4",
                         "--prototypes", "2", "--folds", "1", "--out", tmp_path / "o", "--no-progress")
    assert status == 0, err
    names = [r["method"] for r in read_csv(tmp_path / "o" / "table.csv")]
    assert "tiny-triplet-decaydgrad-deeper-k2" in names
    assert {"FULLY / Cross", "FULLY+DEEPER / all", "Cross and CrossDD, FULLY+DEEPER"} <= set(names)
    table = (tmp_path / "o" / "table.md").read_text()
    assert "| | Cross | Triplet+Cross | all |" in table and "| FULLY+DEEPER |" in table


def test_profile_flag_takes_another_recipes_profile(cli):
    status, out, _ = cli("--pipeline", "paper-demo", "--profile", "paper", "--dry-run")
    assert status == 0 and "3000 iterations, batch 180" in out and "a fresh network per k" in out
    assert "sn8-bce-adam-fully-k60" in out  # paper-demo's members, the paper's k values


def test_baseline_rows_are_computed_on_the_members_folds_and_pixels(cli, image_tree, tmp_path):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    from dissim.data import load_dataset
    from dissim.data.preprocess import preprocess
    from dissim.protocols.base import task_seed
    from dissim.protocols.ensemble.baselines import TUNED_C, TUNED_GAMMA_FACTORS

    recipe = write_recipe(tmp_path / "r.toml")
    out = tmp_path / "out"
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--out", out,
                         "--no-progress")
    assert status == 0, err
    rows = {r["method"]: r for r in read_csv(out / "table.csv")}
    member = np.load(out / "scores" / "tiny-bce-adam-fully-k2.npz")
    dataset = load_dataset("folder", str(image_tree), 1)
    size = json.loads((out / "config.json").read_text())["baselines"]["input_size"]
    pixels = preprocess(dataset, size).reshape(len(dataset), -1).astype(np.float32) / 255
    for fold, (train, test) in enumerate(dataset.folds, start=1):
        assert np.array_equal(member[f"fold_{fold}_test_index"], test)  # the members' test fold
        x, y = pixels[train], dataset.labels[train]
        scale = 1 / (x.shape[1] * x.var())
        tuned = GridSearchCV(SVC(), {"C": list(TUNED_C), "gamma": [f * scale for f in TUNED_GAMMA_FACTORS]},
                             cv=StratifiedKFold(3, shuffle=True, random_state=task_seed(1, "baselines", fold)))
        for name, model in (("raw-svm", SVC()), ("raw-svm-tuned", tuned),
                            ("raw-1-nn", KNeighborsClassifier(n_neighbors=1))):
            predicted = model.fit(x, y).predict(pixels[test])  # the grid search sees the training fold only
            expected = 100 * np.mean(predicted == dataset.labels[test])
            assert float(rows[name][f"fold_{fold}"]) == pytest.approx(expected, abs=0.006)
        chosen = json.loads((out / "config.json").read_text())["baselines"]["raw-svm-tuned"]["chosen"][fold - 1]
        assert chosen["C"] == tuned.best_params_["C"] and chosen["gamma"] == pytest.approx(tuned.best_params_["gamma"])
    assert "Baselines on the same folds: raw-svm" in (out / "table.md").read_text()


def test_frozen_feature_baseline_is_lite0_features_and_inner_cv_logistic_regression(cli, image_tree, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dissim.data import load_dataset
    from dissim.data.preprocess import preprocess
    from dissim.eval.cnn import frozen_features
    from dissim.protocols.base import task_seed
    from dissim.protocols.ensemble.baselines import FROZEN_C

    # an eCNN input of 40 px: the frozen baseline still runs at Lite0's native 224 (its strongest cheap version)
    recipe = write_recipe(tmp_path / "r.toml", extra="[ecnn]\ninput_size = 40\n")
    out = tmp_path / "out"
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--out", out,
                         "--no-progress", "--precision", "fp32")
    assert status == 0, err
    row = {r["method"]: r for r in read_csv(out / "table.csv")}["lite0-frozen-logreg"]
    config = json.loads((out / "config.json").read_text())["baselines"]["lite0-frozen-logreg"]
    assert config["network"] == "lite0" and config["input_size"] == 224
    member = np.load(out / "scores" / "tiny-bce-adam-fully-k2.npz")
    dataset = load_dataset("folder", str(image_tree), 1)
    features = frozen_features(preprocess(dataset, 224))
    for fold, (train, test) in enumerate(dataset.folds, start=1):
        assert np.array_equal(member[f"fold_{fold}_test_index"], test)
        search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                              {"logisticregression__C": list(FROZEN_C)},
                              cv=StratifiedKFold(3, shuffle=True, random_state=task_seed(1, "lite0-frozen-logreg", fold)))
        search.fit(features[train], dataset.labels[train])  # the training fold only
        expected = 100 * np.mean(search.predict(features[test]) == dataset.labels[test])
        assert float(row[f"fold_{fold}"]) == pytest.approx(expected, abs=0.006)
        assert config["chosen"][fold - 1]["C"] == search.best_params_["logisticregression__C"]
    assert "frozen lite0 at 224x224" in (out / "table.md").read_text()


def test_frozen_features_are_computed_once_per_run_and_then_read_from_the_cache(cli, image_tree, tmp_path,
                                                                                 monkeypatch):
    from dissim.eval import cnn

    calls = []
    real = cnn.frozen_features
    monkeypatch.setattr(cnn, "frozen_features", lambda images, *a, **kw: calls.append(len(images)) or real(
        images, *a, **kw))
    recipe = write_recipe(tmp_path / "r.toml", extra="[ecnn]\ninput_size = 32\n")
    args = ("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--no-progress")
    assert cli(*args, "--out", tmp_path / "a")[0] == 0
    assert calls == [len(load_dataset_tree(image_tree))]  # five folds, every image once
    assert cli(*args, "--seed", "2", "--out", tmp_path / "b")[0] == 0  # new baseline tasks, same features
    assert len(calls) == 1


def load_dataset_tree(tree):
    from dissim.data import load_dataset

    return load_dataset("folder", str(tree), 1)


def test_without_the_ecnn_extra_the_frozen_baseline_is_left_out_and_the_table_says_so(
        cli, image_tree, tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite_pytorch" else find_spec(name, *a))
    out = tmp_path / "out"
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline",
                         write_recipe(tmp_path / "r.toml"), "--out", out, "--no-progress")
    assert status == 0, err
    assert "lite0-frozen-logreg" not in [r["method"] for r in read_csv(out / "table.csv")]
    assert "lite0-frozen-logreg is not computed: it needs pip install 'dissim[ecnn]'" in (out / "table.md").read_text()


def test_learned_fusion_row_weighs_members_on_inner_scores_and_records_its_weights(cli, image_tree, tmp_path):
    """A recipe row with fusion = "learned": per fold, weights from the members' out-of-fold scores of the
    training fold (stored in scores/), applied to their test scores; the weights are in config.json."""
    from dissim.eval.fusion import forward_selection

    recipe = write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"), spaces=("fully", "deeper"),
                          top='headline = "learned all"',
                          extra='[[fusions]]\nname = "learned all"\nfusion = "learned"\n'
                                '[[fusions]]\nname = "sum all"\n')
    out = tmp_path / "out"
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--out", out,
                         "--no-progress")
    assert status == 0, err
    rows = {r["method"]: r for r in read_csv(out / "table.csv")}
    config = json.loads((out / "config.json").read_text())["learned_fusions"]
    names = ["tiny-bce-adam-fully-k2", "tiny-bce-adam-deeper-k2", "tiny-triplet-adam-fully-k2",
             "tiny-triplet-adam-deeper-k2"]
    members = [np.load(out / "scores" / f"{name}.npz") for name in names]
    for fold in range(1, 6):
        inner = [m[f"fold_{fold}_inner_scores"] for m in members]
        train_labels = members[0][f"fold_{fold}_train_labels"]
        assert all(len(i) == len(train_labels) == 24 for i in inner)  # every training item, out of fold
        weights = forward_selection(inner, train_labels)
        recorded = config["rows"]["learned all"][fold - 1]
        assert recorded["fold"] == fold
        assert recorded["weights"] == {n: pytest.approx(w, abs=1e-6) for n, w in zip(names, weights) if w}
        fused = sum(w * (m[f"fold_{fold}_test_scores"] - i.mean()) / i.std() for w, m, i in zip(weights, members, inner))
        expected = 100 * np.mean(fused.argmax(1) == members[0][f"fold_{fold}_test_labels"])
        assert float(rows["learned all"][f"fold_{fold}"]) == pytest.approx(expected, abs=0.006)
    assert set(config["members_out_of_fold_vs_test_accuracy"]) == set(names)
    table = (out / "table.md").read_text()
    assert "fusion = \"learned\"" in table
    # the headline row is compared with the best baseline row, in table.md and config.json
    headline = json.loads((out / "config.json").read_text())["headline"]
    best = max(("raw-svm", "raw-svm-tuned", "raw-1-nn", "lite0-frozen-logreg"), key=lambda b: float(rows[b]["mean"]))
    assert headline["row"] == "learned all" and headline["best_baseline"] == best
    assert headline["margin"] == pytest.approx(float(rows["learned all"]["mean"]) - float(rows[best]["mean"]), abs=0.011)
    assert f"Headline row (named in the recipe before any run): learned all, {rows['learned all']['mean']} %" in table


def test_a_headline_that_names_no_row_is_refused_before_work(cli, image_tree, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", top='headline = "nope"', extra='[[fusions]]\nname = "all"\n')
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--dry-run")
    assert status == 2 and "headline = 'nope' names no row" in err and err.count("\n") == 1


def test_a_learned_fusion_with_groups_is_refused(cli, image_tree, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", extra='[[fusions]]\nname = "x"\nfusion = "learned"\n'
                                                     'groups = [{ methods = ["Cross"] }]\n')
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--dry-run")
    assert status == 2 and "takes no groups" in err and err.count("\n") == 1
