"""Runs that survive: kill -9 and resume, caches corrupted in place, results independent of --jobs,
awkward paths and class names, damaged library files, and the Ray backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_recipe, write_tree

from dissim.data import load_dataset
from dissim.data.preprocess import cache_path, preprocess
from dissim.errors import UserError
from dissim.experiment.cache import ResultCache
from dissim.storage import cache_root


def flip_a_byte(path: Path, where: float = 0.5) -> None:
    """Corrupt a file in place: one byte changed, same size."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x55
    path.write_bytes(bytes(data))


def test_a_result_entry_changed_in_place_is_recomputed(tmp_path):
    cache = ResultCache(tmp_path)
    cache.save("ab" * 32, {"scores": np.arange(1000, dtype=np.float32), "labels": np.arange(10)})
    assert cache.load("ab" * 32) is not None
    detected = 0
    for where in np.linspace(0.05, 0.95, 19):
        cache.save("ab" * 32, {"scores": np.arange(1000, dtype=np.float32), "labels": np.arange(10)})
        flip_a_byte(cache.path("ab" * 32), where)
        loaded = cache.load("ab" * 32)
        if loaded is None:
            detected += 1
        else:  # the byte was not part of the data (a timestamp, say): the arrays must still be exact
            assert np.array_equal(loaded["scores"], np.arange(1000)) and np.array_equal(loaded["labels"], np.arange(10))
    assert detected >= 15


def test_a_preprocessed_array_changed_in_place_is_recomputed(image_tree):
    data = load_dataset("folder", image_tree, seed=1)
    first = preprocess(data, 16).copy()
    path = cache_path(data, 16)
    flip_a_byte(path, 0.9)
    assert np.array_equal(preprocess(data, 16), first)  # recomputed, not read damaged


def test_a_data_root_below_a_dot_folder_is_found(cli, tmp_path):
    root = write_tree(tmp_path / ".cache" / "images", per_class=6)
    status, out, err = cli("--dataset", "folder", "--data-root", root, "--pipeline",
                           write_recipe(tmp_path / "r.toml"), "--dry-run")
    assert status == 0, err
    assert "18 images" in out


def test_class_names_that_look_like_maths_are_drawn_as_text(cli, tmp_path):
    root = write_tree(tmp_path / "imgs", classes=(r"p$\foo$", "b", "c"), per_class=6)
    status, _, err = cli("--dataset", "folder", "--data-root", root, "--pipeline", write_recipe(tmp_path / "r.toml"),
                         "--folds", "1", "--out", tmp_path / "o", "--no-progress")
    assert status == 0, err
    assert "warning" not in err
    assert (tmp_path / "o" / "figures" / "confusion_best_fusion.png").is_file()


def test_jobs_1_and_jobs_2_with_default_settings_give_byte_identical_tables(cli, image_tree, tmp_path, monkeypatch):
    recipe = write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"))
    args = ["--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--folds", "1,2", "--no-progress"]
    assert cli(*args, "--jobs", "1", "--out", tmp_path / "one")[0] == 0
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    assert cli(*args, "--jobs", "2", "--out", tmp_path / "two")[0] == 0
    for name in ("table.csv", "table.md"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def _killed_then_resumed(args: list[str], tmp_path: Path, done_marker: str) -> tuple[str, str]:
    """Run the CLI in a subprocess, kill -9 it once a task has finished, rerun: (table after resume, log)."""
    env = {**os.environ, "DISSIM_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "dissim.pipelines.run", *args, "--jobs", "1", "--no-progress"]
    process = subprocess.Popen([*command, "--out", str(tmp_path / "killed")], env=env, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 300
    for line in process.stderr:
        if done_marker in line or time.time() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "table.csv").exists()
    resumed = subprocess.run([*command, "--out", str(tmp_path / "resumed")], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    return (tmp_path / "resumed" / "table.csv").read_text(), resumed.stderr


def test_kill_9_then_resume_gives_the_table_of_an_uninterrupted_run_ensemble(cli, image_tree, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"), iterations=6)
    args = ["--dataset", "folder", "--data-root", str(image_tree), "--pipeline", str(recipe), "--folds", "1,2,3"]
    table, log = _killed_then_resumed(args, tmp_path, "fold 1:")
    assert "(cached)" in log  # the task finished before the kill was not trained again
    status, _, err = cli(*args, "--out", tmp_path / "straight", "--no-progress")
    assert status == 0, err
    assert (tmp_path / "straight" / "table.csv").read_text() == table


def test_kill_9_then_resume_gives_the_table_of_an_uninterrupted_run_oneshot(cli, tmp_path, monkeypatch):
    recipe = tmp_path / "o.toml"
    recipe.write_text('protocol = "oneshot"\n[settings]\nmethods = ["nn-l2", "siamese", "nn-cosine"]\n'
                      "partitions = 2\nepochs = 2\nbatch_size = 16\n")
    args = ["--pipeline", str(recipe)]
    table, log = _killed_then_resumed(args, tmp_path, "partition 1 siamese")
    assert "cached" in log
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "straight-cache"))
    status, _, err = cli(*args, "--out", tmp_path / "straight", "--no-progress")
    assert status == 0, err
    assert (tmp_path / "straight" / "table.csv").read_text() == table


@pytest.mark.parametrize("damage, words", [
    (lambda s: s["matcher"]["net"]["topology"].__setitem__("layers", [{"type": "warp"}]), "unknown type 'warp'"),
    (lambda s: s["matcher"]["net"].pop("input_size"), "no valid input size"),
    (lambda s: s["matcher"]["net_state"].pop("backbone.layers.conv1.weight"), "damaged"),
    (lambda s: s["matcher"]["net"]["topology"]["layers"].append({"name": "huge", "type": "fc", "units": 10**8}),
     "more than 2,000,000,000 parameters"),
    (lambda s: s.pop("labels"), "damaged"),
    (lambda s: s["embeddings"].fill_(float("nan")), "embeddings hold NaN or infinite values"),
    (lambda s: s.__setitem__("embeddings", s["embeddings"][:, :3]), r"embeddings of shape \(12, 3\)"),
    (lambda s: s.__setitem__("embeddings", s["embeddings"][:5]), r"embeddings of shape \(5, "),
    (lambda s: s.__setitem__("wavenumbers", s["wavenumbers"][:100]), "a grid of 100 points for a matcher of 900"),
    (lambda s: s.__setitem__("ids", s["ids"][:2]), "2 reference ids for 12 labels"),
])
def test_a_damaged_library_file_is_a_clear_error(tmp_path, damage, words):
    from dissim.data.spectral import SpectralPreprocessing
    from dissim.eval import SiameseMatcher
    from dissim.library import ReferenceLibrary

    rng = np.random.default_rng(0)
    x, y = rng.random((12, 900)), np.repeat(["a", "b", "c"], 4)
    matcher = SiameseMatcher(epochs=1, batch_size=4, sampler="class-balanced-pairs", validation_fraction=0,
                             random_state=0).fit(x, y)
    library = ReferenceLibrary(matcher, np.arange(400.0, 4000.0, 4.0), SpectralPreprocessing()).fit(x, y)
    path = library.save(tmp_path / "lib")
    state = torch.load(path, weights_only=True)
    damage(state)
    torch.save(state, path)
    with pytest.raises(UserError, match=words):
        ReferenceLibrary.load(path)


def test_ray_backend_gives_the_table_of_the_local_run(image_tree, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from dissim.experiment import RunOptions, load_recipe, run_experiment

    recipe = load_recipe(str(write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"))))
    options = dict(dataset="folder", data_root=str(image_tree), progress=False, threads=1)
    local = run_experiment(recipe, RunOptions(out=tmp_path / "local", jobs=1, **options))
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "fresh-cache"))
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"DISSIM_CACHE": str(tmp_path / "fresh-cache")}})
    try:
        remote = run_experiment(recipe, RunOptions(out=tmp_path / "ray", jobs=2, backend="ray", **options))
    finally:
        ray.shutdown()
    assert (remote / "table.csv").read_text() == (local / "table.csv").read_text()
    assert list((cache_root() / "members").rglob("*.npz"))


def test_a_rerun_removes_only_the_files_its_folder_recorded_as_its_own(tmp_path):
    from dissim.eval.report import Report
    from dissim.experiment.folder import ResultsFolder
    from dissim.experiment.tables import write_report

    identity = {"dataset": "d", "recipe": "r"}

    def run(scores: dict) -> None:
        folder = ResultsFolder(tmp_path, identity)
        folder.check(overwrite=False)
        folder.claim()
        for path in write_report(tmp_path, Report(title="t", header=[], sections=[], csv={}, scores=scores)):
            folder.record(path)
        folder.finish()

    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "old-key-method.npz").write_bytes(b"a user's file that only looks like a score file")
    (tmp_path / "scores" / "notes.txt").write_text("the user's own file")
    run({"first": {"x": np.arange(3)}, "second": {"x": np.arange(4)}, "third": {"x": np.arange(5)}})
    (tmp_path / "scores" / "third.npz").write_bytes(b"changed by the user after the run")
    run({"first": {"x": np.arange(3)}})
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == [
        "first.npz", "notes.txt", "old-key-method.npz", "third.npz"]  # second.npz was the run's own, unchanged


def test_ctrl_c_exits_130_with_one_line_leaves_no_temporary_files_and_the_rerun_resumes(cli, image_tree, tmp_path,
                                                                                         monkeypatch):
    from dissim.experiment import runner

    recipe = write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"))
    args = ["--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--folds", "1",
            "--out", tmp_path / "out", "--no-progress"]
    calls, real = [], runner._run_and_store

    def interrupted_after_the_first(task, cache_root):
        calls.append(task)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task, cache_root)

    monkeypatch.setattr(runner, "_run_and_store", interrupted_after_the_first)
    status, _, err = cli(*args)
    assert status == 130 and err.strip().splitlines()[-1].startswith("interrupted: finished tasks are cached"), err
    assert len([line for line in err.splitlines() if "interrupted" in line]) == 1
    assert not [p for p in (*tmp_path.rglob("*.tmp"), *cache_root().rglob("*.tmp"))]
    assert not (tmp_path / "out" / "table.csv").exists()
    monkeypatch.setattr(runner, "_run_and_store", real)
    status, _, err = cli(*args)
    assert status == 0 and "(cached)" in err, err


@pytest.mark.parametrize("name", ["../../escaped.png", "/abs/escaped.png", "a/../../escaped.png"])
def test_zip_member_names_that_climb_out_are_refused_never_written(tmp_path, name):
    import zipfile

    tree = write_tree(tmp_path / "t", per_class=6)
    archive = tmp_path / "deep" / "data.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tree.rglob("*.png")):
            zf.write(path, path.relative_to(tree).as_posix())
        zf.writestr(name, (tree / "a" / "000.png").read_bytes())
    with pytest.raises(UserError, match="the member's name points outside the archive"):
        load_dataset("folder", archive, seed=0)
    assert not list(tmp_path.rglob("escaped.png")) and not os.path.exists("/abs/escaped.png")
