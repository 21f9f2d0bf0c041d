"""Results folders never collide, name their items, account for their work, and stand on their own:
default folders per data root, one run's results per folder, user files left alone, item ids in
score files, config.json provenance, and --fuse-only from a folder's own scores/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_recipe, write_tree
from test_cli_errors import assert_one_line_error

from dissim.experiment.folder import default_out
from dissim.hardware import cpu_model

REPOSITORY = Path(__file__).resolve().parents[1]


def test_default_out_names_the_data_root(tmp_path):
    one, two = tmp_path / "a" / "images", tmp_path / "b" / "images"
    first, second = default_out("folder", str(one), "quick"), default_out("folder", str(two), "quick")
    assert first != second
    for out in (first, second):
        assert out.parts[0] == "results" and out.parts[1].startswith("folder-images-") and out.parts[2] == "quick"
    assert default_out("folder", str(tmp_path / "my data.zip"), "quick").parts[1].startswith("folder-my-data-")
    assert default_out("InfLar", str(one), "paper") == Path("results/InfLar/paper")
    assert default_out("digits", None, "quick") == Path("results/digits/quick")


def test_two_folder_roots_plan_into_two_folders(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = write_recipe(tmp_path / "r.toml")
    said = []
    for parent in ("x", "y"):
        root = write_tree(tmp_path / parent / "images")
        status, out, err = cli("--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--dry-run")
        assert status == 0, err
        said += [line for line in out.splitlines() if line.startswith("results would go to ")]
    assert len(said) == 2 and said[0] != said[1] and all("folder-images-" in line for line in said)


def test_a_run_keeps_to_its_own_folder_and_files(cli, tmp_path):
    root = write_tree(tmp_path / "images")
    recipe = write_recipe(tmp_path / "r.toml")
    out = tmp_path / "out"
    (out / "scores").mkdir(parents=True)
    (out / "scores" / "mine.npz").write_bytes(b"a user's file")
    (out / "notes.txt").write_text("a user's notes")
    base = ["--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--out", out, "--no-progress",
            "--folds", "1"]
    status, _, err = cli(*base, "--prototypes", "1,2")
    assert status == 0, err
    assert (out / "scores" / "mine.npz").read_bytes() == b"a user's file"
    assert (out / "notes.txt").read_text() == "a user's notes"

    # every score file names its items: paths relative to the data root, in the class of their label
    member = np.load(out / "scores" / "tiny-bce-adam-fully-k1.npz")
    items, labels = member["fold_1_test_items"], member["fold_1_test_labels"]
    assert len(items) == len(labels) == len(member["fold_1_test_scores"])
    assert all((root / item).is_file() and item.split("/")[0] == member["class_names"][label]
               for item, label in zip(items, labels))
    assert set(np.load(out / "scores" / "baseline-raw-svm.npz")["fold_1_test_items"]) == set(items)

    config = json.loads((out / "config.json").read_text())
    tasks = config["tasks"]
    assert tasks["computed"]["tasks"] == tasks["total"] > 0 and tasks["cached"]["tasks"] == 0
    assert tasks["computed"]["seconds"] > 0 and config["wall_seconds"] > 0
    assert config["machine"]["cpu"] == cpu_model() == config["device_name"]  # the model, not just "x86_64"
    assert isinstance(config["machine"]["gpus"], list)
    assert len(config["git"]["commit"]) == 40  # the tests run from a git checkout
    table = (out / "table.md").read_bytes()

    # the same run again reads everything from the cache, and says how long computing it took
    status, _, err = cli(*base, "--prototypes", "1,2")
    assert status == 0, err
    again = json.loads((out / "config.json").read_text())["tasks"]
    assert again["cached"]["tasks"] == tasks["total"] and again["computed"]["tasks"] == 0
    assert again["cached"]["compute_seconds"] == pytest.approx(tasks["computed"]["seconds"], abs=0.2)

    # another run's results: one line, before any work, and nothing touched
    status, _, err = cli(*base, "--prototypes", "1", "--seed", "2")
    assert_one_line_error(status, err, str(out), "--overwrite", "seed 1", "seed 2")
    assert (out / "table.md").read_bytes() == table
    status, plan, _ = cli(*base, "--prototypes", "1", "--seed", "2", "--dry-run")
    assert status == 0 and f"results would go to {out}, but" in plan and "--overwrite" in plan

    # told to overwrite: the earlier run's files that this one does not write go, the user's stay
    stale = out / "scores" / "tiny-bce-adam-fully-k2.npz"
    assert stale.is_file()
    status, _, err = cli(*base, "--prototypes", "1", "--seed", "2", "--overwrite")
    assert status == 0, err
    assert not stale.exists()
    assert (out / "scores" / "mine.npz").read_bytes() == b"a user's file"
    assert (out / "notes.txt").read_text() == "a user's notes"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"]["seed"] == 2 and "scores/mine.npz" not in manifest["files"]
    assert sorted(manifest["files"]) == sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                                               if p.is_file() and p.name not in ("manifest.json", "mine.npz",
                                                                                 "notes.txt"))


def test_a_folder_of_unknown_results_is_not_overwritten_silently(cli, tmp_path):
    root = write_tree(tmp_path / "images")
    out = tmp_path / "out"
    out.mkdir()
    (out / "table.md").write_text("someone's table")
    status, _, err = cli("--dataset", "folder", "--data-root", root, "--pipeline", write_recipe(tmp_path / "r.toml"),
                         "--out", out, "--no-progress")
    assert_one_line_error(status, err, "no dissim run recorded", "--overwrite")
    assert (out / "table.md").read_text() == "someone's table"


def test_fuse_only_rebuilds_grouped_rows_from_the_folder_alone(cli, tmp_path, monkeypatch):
    root = write_tree(tmp_path / "images")
    recipe = write_recipe(tmp_path / "g.toml", methods=("Cross", "Triplet"), extra='''
[table]
columns = [{ name = "accuracy" }]
rows = [
  { name = "all" },
  { name = "Cross + Triplet as two groups", groups = [{ methods = ["Cross"] }, { methods = ["Triplet"] }] },
]''')
    out = tmp_path / "out"
    base = ["--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--out", out, "--no-progress",
            "--folds", "1,2"]
    status, _, err = cli(*base)
    assert status == 0, err
    table = (out / "table.md").read_bytes()
    assert b"two groups" in table
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "empty-cache"))
    status, _, err = cli(*base, "--fuse-only")
    assert status == 0, err
    assert (out / "table.md").read_bytes() == table
    assert json.loads((out / "config.json").read_text())["tasks"]["from_results_folder"]["tasks"] > 0
    status, _, err = cli(*base[:-5], "--out", tmp_path / "elsewhere", "--no-progress", "--folds", "1,2",
                         "--fuse-only")
    assert_one_line_error(status, err, "not in the cache", "does not hold them either", "without --fuse-only")


def test_fuse_only_reproduces_the_committed_quick_table_with_an_empty_cache(cli, tmp_path):
    committed = REPOSITORY / "results" / "digits" / "quick"
    copy = shutil.copytree(committed, tmp_path / "quick")
    status, _, err = cli("--pipeline", "quick", "--out", copy, "--fuse-only", "--no-progress")
    assert status == 0, err
    assert (copy / "table.md").read_bytes() == (committed / "table.md").read_bytes()
    assert (copy / "table.csv").read_bytes() == (committed / "table.csv").read_bytes()


def test_the_same_command_on_a_machine_that_resolves_auto_otherwise_replaces_its_own_results(
        cli, image_tree, tmp_path, monkeypatch):
    """A committed results folder (results/digits/quick) must not stop the README's first command on a
    machine where --precision auto means fp32 rather than bf16: the folder belongs to the command as asked."""
    from dissim import hardware

    out = tmp_path / "out"
    args = ("--dataset", "folder", "--data-root", image_tree, "--pipeline", write_recipe(tmp_path / "r.toml"),
            "--folds", "1", "--out", out, "--no-progress")
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: "AVX-512-BF16")
    status, _, err = cli(*args)
    assert status == 0, err
    assert json.loads((out / "config.json").read_text())["precision"] == "bf16"
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: None)
    status, _, err = cli(*args)
    assert status == 0, err
    assert json.loads((out / "config.json").read_text())["precision"] == "fp32"
