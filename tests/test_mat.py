"""The MATLAB toolbox's DATA .mat files (v5 and v7.3): images, labels and the file's folds as written."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_recipe
from test_cli_errors import assert_one_line_error
from toolbox_mat import cell, toolbox_data, write_mat

from dissim.data import ImageSet, SpectraSet, load_dataset

VERSIONS = ("v5", "v7.3")


def mixed_images(rng, n=12):
    """Grey and colour images of different sizes and a label 1..3 each."""
    images = []
    for i in range(n):
        shape = (6 + i % 4, 9 - i % 3) + ((3,) if i % 3 == 0 else ())
        images.append(rng.integers(0, 256, shape, dtype=np.uint8))
    return images, [1 + i % 3 for i in range(n)]


def as_hwc(image):
    return image if image.ndim == 3 else image[:, :, None]


@pytest.mark.parametrize("version", VERSIONS)
def test_images_labels_and_folds_read_back_as_written(tmp_path, version):
    images, labels = mixed_images(np.random.default_rng(0))
    folds = [(np.array([0, 1, 2, 3, 4, 5, 6, 7]), np.array([8, 9, 10, 11])),
             (np.array([11, 4, 5, 6, 7, 8, 9, 10]), np.array([3, 0, 2, 1]))]  # any order: the file's order is kept
    path = write_mat(tmp_path / "data.mat", {"DATA": toolbox_data(images, labels, folds)}, version)
    data = load_dataset("mat", root=path)
    assert isinstance(data, ImageSet) and len(data) == 12 and data.channels == 3
    for i, image in enumerate(images):
        assert np.array_equal(data.read(i), as_hwc(image)), i
    assert data.class_names == ["1", "2", "3"]
    assert np.array_equal(np.array(data.class_names)[data.labels].astype(int), labels)
    assert len(data.folds) == 2
    for (train, test), (want_train, want_test) in zip(data.folds, folds):
        assert np.array_equal(train, want_train) and np.array_equal(test, want_test)
    assert data.item_names[0] == "DATA{1}{1}" and "2 folds of DIV" in data.protocol


def test_v5_and_v73_files_of_one_data_set_share_its_fingerprint(tmp_path):
    images, labels = mixed_images(np.random.default_rng(1))
    data = {"DATA": toolbox_data(images, labels, [(np.arange(8), np.arange(8, 12))])}
    sets = [load_dataset("mat", root=write_mat(tmp_path / f"{v}.mat", data, v)) for v in VERSIONS]
    assert sets[0].fingerprint == sets[1].fingerprint
    changed = [image.copy() for image in images]
    changed[5][0, 0] ^= 1
    other = load_dataset("mat", root=write_mat(tmp_path / "other.mat", {
        "DATA": toolbox_data(changed, labels, [(np.arange(8), np.arange(8, 12))])}))
    assert other.fingerprint != sets[0].fingerprint


@pytest.mark.parametrize("version", VERSIONS)
def test_per_fold_dim1_gives_each_fold_its_own_training_size(tmp_path, version):
    """Patient-wise splits: three folds train on 7, 5 and 8 images; DIM1 holds one value per fold."""
    images, labels = mixed_images(np.random.default_rng(2))
    order = np.random.default_rng(3).permutation(12)
    folds = [(order[:7], order[7:]), (order[5:10], order[[0, 1, 2, 3, 4, 10, 11]]), (order[4:], order[:4])]
    div = np.zeros((3, 12))
    for row, (train, test) in enumerate(folds):
        div[row] = np.concatenate([train, test]) + 1
    data = toolbox_data(images, labels, div=div, dim1=[[7, 5, 8]], dim2=12)
    loaded = load_dataset("mat", root=write_mat(tmp_path / "patients.mat", {"DATA": data}, version))
    assert [len(train) for train, _ in loaded.folds] == [7, 5, 8]
    for (train, test), (want_train, want_test) in zip(loaded.folds, folds):
        assert np.array_equal(train, want_train) and np.array_equal(test, want_test)
    assert "DIM1 per fold [7, 5, 8]" in loaded.protocol


def test_row_entries_after_dim2_are_not_read(tmp_path):
    """Rows padded past DIM2 (per-fold DIM2): the toolbox reads DIV(fold, 1:DIM2) only."""
    images, labels = mixed_images(np.random.default_rng(4))
    div = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0], [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2]], float)
    data = toolbox_data(images, labels, div=div, dim1=6, dim2=[[10, 12]])
    loaded = load_dataset("mat", root=write_mat(tmp_path / "padded.mat", {"DATA": data}))
    assert loaded.folds[0][1].tolist() == [6, 7, 8, 9]
    assert loaded.folds[1][1].tolist() == [8, 9, 10, 11, 0, 1]


def test_pixel_types_become_uint8_as_matlab_converts_them(tmp_path):
    grey = np.array([[0, 128], [200, 255]], dtype=np.uint8)
    unit = [grey / 255.0, (grey / 255.0).astype(np.float32)]  # every float image in [0, 1]: im2uint8
    wide = [grey.astype(np.uint16) * 257, grey > 100]
    loaded = load_dataset("mat", root=write_mat(tmp_path / "unit.mat", {
        "DATA": toolbox_data(unit + wide, [1, 2, 1, 2], [(np.array([0, 1]), np.array([2, 3]))])}))
    assert [loaded.read(i)[:, :, 0].tolist() for i in range(3)] == [grey.tolist()] * 3
    assert loaded.read(3)[:, :, 0].tolist() == [[0, 1], [1, 1]]  # logical: uint8(mask) in MATLAB
    counts = [grey.astype(np.float64), grey.astype(np.float64) / 2]  # some float image above 1: values are 0..255
    loaded = load_dataset("mat", root=write_mat(tmp_path / "counts.mat", {
        "DATA": toolbox_data(counts, [1, 2], [(np.array([0]), np.array([1]))])}))
    assert loaded.read(0)[:, :, 0].tolist() == grey.tolist()
    assert loaded.read(1)[:, :, 0].tolist() == np.round(grey / 2).astype(int).tolist()


def test_text_labels_are_read(tmp_path):
    images, _ = mixed_images(np.random.default_rng(5), n=4)
    path = write_mat(tmp_path / "text.mat", {"DATA": toolbox_data(
        images, ["cat", "dog", "cat", "dog"], [(np.array([0, 1]), np.array([2, 3]))])}, "v7.3")
    loaded = load_dataset("mat", root=path)
    assert loaded.class_names == ["cat", "dog"] and loaded.labels.tolist() == [0, 1, 0, 1]


def test_digits_written_as_data_mat_by_the_docs_snippet_is_the_digits_set(tmp_path, monkeypatch):
    """docs/matlab.md's Python snippet writes the digits with the five folds of a seed-1 run as a DATA
    .mat; read back, it is the embedded digits set: same images, labels and folds."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "matlab.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "docs/matlab.md", "exec"), {})
    digits, loaded = load_dataset("digits", seed=1), load_dataset("mat", root=tmp_path / "digits.mat")
    assert len(loaded) == len(digits) and loaded.channels == 1
    assert all(np.array_equal(loaded.read(i), digits.read(i)) for i in range(len(digits)))
    assert np.array_equal(loaded.labels, digits.labels) and loaded.class_names == digits.class_names
    for (train, test), (want_train, want_test) in zip(loaded.folds, digits.folds, strict=True):
        assert np.array_equal(train, want_train) and np.array_equal(test, want_test)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_numeric_matrix_is_a_spectra_set_usable_by_the_spectra_protocols(tmp_path, cli, version):
    rng = np.random.default_rng(6)
    labels = np.repeat([1, 2, 3, 4], 20)
    spectra = rng.normal(size=(80, 100)) + labels[:, None]
    folds = [(np.arange(0, 80, 2), np.arange(1, 80, 2))]
    path = write_mat(tmp_path / "spectra.mat", {"DATA": toolbox_data(spectra, labels, folds)}, version)
    loaded = load_dataset("mat", root=path)
    assert isinstance(loaded, SpectraSet) and loaded.spectra.shape == (80, 100)
    assert np.allclose(loaded.spectra, spectra.astype(np.float32)) and loaded.labels.tolist() == (labels - 1).tolist()
    assert loaded.class_names == ["1", "2", "3", "4"] and "not used" in loaded.notes[0]
    status, out, err = cli("--dataset", "mat", "--data-root", path, "--pipeline", "openset", "--dry-run")
    assert status == 0, err
    assert "4 classes (1, 2, 3, 4), each held out in turn" in out


# -- bad input: exit 2 and one line naming the file, the field and the fix ----------------------------
def good_data(rng=None):
    images, labels = mixed_images(rng or np.random.default_rng(7))
    return images, labels, [(np.arange(8), np.arange(8, 12))]


def run_bad(cli, tmp_path, variables, version="v5"):
    path = write_mat(tmp_path / "bad.mat", variables, version)
    recipe = write_recipe(tmp_path / "r.toml")
    return cli("--dataset", "mat", "--data-root", path, "--pipeline", recipe, "--dry-run")


def test_a_file_without_data_says_what_it_holds(cli, tmp_path):
    images, labels, folds = good_data()
    status, _, err = run_bad(cli, tmp_path, {"IMGS": toolbox_data(images, labels, folds)})
    assert_one_line_error(status, err, "bad.mat has no variable DATA", "it holds IMGS", "save(FILE, 'DATA')")


def test_a_div_row_longer_than_the_images(cli, tmp_path):
    images, labels, _ = good_data()
    div = np.arange(1, 15, dtype=float)[None, :] % 12 + 1  # 14 entries for 12 images
    status, _, err = run_bad(cli, tmp_path, {"DATA": toolbox_data(images, labels, div=div, dim1=8, dim2=14)})
    assert_one_line_error(status, err, "bad.mat", "DATA{3} (DIV) row 1 is longer than the images",
                          "DIM2 = 14", "holds 12 images", "fix DIM2 or DIV")


def test_an_index_out_of_range(cli, tmp_path):
    images, labels, folds = good_data()
    data = toolbox_data(images, labels, folds)
    data[0, 2][0, 3] = 13
    status, _, err = run_bad(cli, tmp_path, {"DATA": data})
    assert_one_line_error(status, err, "bad.mat", "DATA{3} (DIV) row 1 holds the index 13, outside 1..12", "fix DIV")


def test_zero_based_indices(cli, tmp_path):
    images, labels, folds = good_data()
    data = toolbox_data(images, labels, folds)
    data[0, 2] = data[0, 2] - 1
    status, _, err = run_bad(cli, tmp_path, {"DATA": data}, "v7.3")
    assert_one_line_error(status, err, "bad.mat", "DATA{3} (DIV) row 1 holds the index 0", "1-based",
                          "add 1 to 0-based indices")


def test_labels_that_do_not_match_the_images(cli, tmp_path):
    images, labels, folds = good_data()
    status, _, err = run_bad(cli, tmp_path, {"DATA": toolbox_data(images, labels[:-1], folds)})
    assert_one_line_error(status, err, "bad.mat", "DATA{2} (labels) holds 11 labels but DATA{1} (images) holds 12",
                          "one label per image")


def test_a_v73_file_without_h5py_names_the_extra(cli, tmp_path, monkeypatch):
    images, labels, folds = good_data()
    path = write_mat(tmp_path / "bad.mat", {"DATA": toolbox_data(images, labels, folds)}, "v7.3")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    status, _, err = cli("--dataset", "mat", "--data-root", path, "--dry-run")
    assert_one_line_error(status, err, "bad.mat is a MATLAB v7.3 (HDF5) file", "needs h5py",
                          "pip install 'dissim[mat]'", "'-v7'")


@pytest.mark.parametrize("data, needle", [
    (cell([np.zeros((2, 2))]), "DATA has 1 cell(s), expected 5"),
    (np.zeros((3, 3)), "DATA is not a cell array"),
])
def test_other_malformed_data_cells(cli, tmp_path, data, needle):
    status, _, err = run_bad(cli, tmp_path, {"DATA": data})
    assert_one_line_error(status, err, needle)


def test_a_folder_or_no_data_root_asks_for_the_file(cli, tmp_path):
    for extra in ((), ("--data-root", tmp_path)):
        status, _, err = cli("--dataset", "mat", *extra, "--dry-run")
        assert_one_line_error(status, err, "--data-root FILE.mat")


# -- a run on a DATA .mat is the run on the same images and folds --------------------------------------
def digits_tree(root, classes=(0, 1, 2), per_class=10, folds=3):
    """A slice of the digits as PNG files in Fold<k>/<class>/ folders (lossless: 8-bit grey)."""
    from PIL import Image

    digits = load_dataset("digits")
    for c in classes:
        for i, item in enumerate(np.flatnonzero(digits.labels == c)[:per_class]):
            folder = root / f"Fold{i % folds + 1}" / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(digits.read(item)[:, :, 0]).save(folder / f"{item:04d}.png")
    return root


def without_frozen_baseline(patch) -> None:
    """Runs leave out the frozen-network baseline, as without the ecnn extra (shorter runs)."""
    import importlib.util

    find_spec = importlib.util.find_spec
    patch.setattr(importlib.util, "find_spec",
                  lambda name, *a: None if name == "efficientnet_lite_pytorch" else find_spec(name, *a))


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """A slice of the digits run twice with one tiny recipe (two members, their sum-rule fusion and a
    learned fusion): as a Fold<k> folder tree, and as a DATA .mat holding the same images and folds
    (with --export mat).
    The frozen-network baseline is left out (as without the ecnn extra) to keep the runs short."""
    from dissim.cli import run_main

    root = tmp_path_factory.mktemp("digits-runs")
    tree = digits_tree(root / "digits")
    folder = load_dataset("folder", root=tree)
    images = [folder.read(i)[:, :, 0] for i in range(len(folder))]
    labels = [int(folder.class_names[code]) for code in folder.labels]
    mat_file = write_mat(root / "digits.mat", {"DATA": toolbox_data(images, labels, folder.folds)})
    recipe = write_recipe(root / "r.toml", spaces=("fully", "deeper"), extra=(
        '[[fusions]]\nname = "sum all"\n[[fusions]]\nname = "learned all"\nfusion = "learned"\n'))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISSIM_CACHE", str(root / "cache"))
        without_frozen_baseline(patch)
        for name, source, extra in (("folder", tree, ()), ("mat", mat_file, ("--export", "mat"))):
            status = run_main(["--dataset", name, "--data-root", str(source), "--pipeline", str(recipe),
                               "--out", str(root / name), "--no-progress", "--jobs", "1", *extra])
            assert status == 0
    return {"folder": root / "folder", "mat": root / "mat", "mat_file": mat_file, "cache": root / "cache",
            "recipe": recipe}


def test_a_mat_run_gives_the_table_of_the_same_digits_and_folds_as_a_folder_run(digits_runs):
    table = (digits_runs["mat"] / "table.csv").read_text()
    assert table == (digits_runs["folder"] / "table.csv").read_text()
    methods = [line.split(",")[0] for line in table.splitlines()[1:]]
    assert methods == ["tiny-bce-adam-fully-k2", "tiny-bce-adam-deeper-k2", "sum all", "learned all",
                       "raw-svm", "raw-svm-tuned", "raw-1-nn"]
    assert "Folds: 1, 2, 3." in (digits_runs["mat"] / "table.md").read_text()
    for member in methods[:2]:
        scores = [np.load(digits_runs[name] / "scores" / f"{member}.npz") for name in ("folder", "mat")]
        numbers = [key for key in scores[0].files if not key.endswith(("_items", "_key"))]  # ids and cache keys
        assert len(numbers) > 20 and all(np.array_equal(scores[0][key], scores[1][key]) for key in numbers)


def test_exported_mat_files_read_back_to_the_npz_scores(digits_runs):
    from scipy.io import loadmat

    out = digits_runs["mat"]
    assert sorted(p.name for p in (out / "scores").glob("*.mat")) == [
        "learned_all.mat", "sum_all.mat", "tiny-bce-adam-deeper-k2.mat", "tiny-bce-adam-fully-k2.mat"]
    data = loadmat(digits_runs["mat_file"])["DATA"]
    table = {line.split(",")[0]: line.split(",")[1:4] for line in (out / "table.csv").read_text().splitlines()[1:]}
    members = ("tiny-bce-adam-fully-k2", "tiny-bce-adam-deeper-k2")
    fused = {fold: 0.0 for fold in (1, 2, 3)}
    for member in members:
        npz, mat = np.load(out / "scores" / f"{member}.npz"), loadmat(out / "scores" / f"{member}.mat")
        assert str(mat["Method"][0]) == member and str(mat["Kind"][0]) == "member"
        assert [str(c[0]) for c in mat["ClassNames"][0]] == ["0", "1", "2"] and mat["Folds"].tolist() == [[1, 2, 3]]
        for f, fold in enumerate((1, 2, 3)):
            scores = mat["DecisionValue"][0, f]
            assert scores.dtype == np.float64 and np.array_equal(scores, npz[f"fold_{fold}_test_scores"])
            assert np.array_equal(mat["TestLabels"][0, f].ravel(), npz[f"fold_{fold}_test_labels"] + 1)
            index = mat["TestIndex"][0, f].ravel()
            assert np.array_equal(index, npz[f"fold_{fold}_test_index"] + 1)
            items = [str(item[0]) for item in mat["TestItems"][0, f].ravel()]
            assert items == list(npz[f"fold_{fold}_test_items"]) == [f"DATA{{1}}{{{i}}}" for i in index.astype(int)]
            dim1, dim2 = int(data[0, 3].ravel()[f]), int(data[0, 4].ravel()[0])  # 18 or 21 training images
            assert np.array_equal(index, data[0, 2][f, dim1:dim2])  # DIV(fold, DIM1(fold)+1:DIM2)
            assert np.array_equal(data[0, 1][0, index.astype(int) - 1], mat["TestLabels"][0, f].ravel() - 1)
            assert mat["TrainMean"][0, f] == npz[f"fold_{fold}_train_mean"]
            assert mat["TrainStd"][0, f] == npz[f"fold_{fold}_train_std"]
            assert mat["Accuracy"][0, f] == pytest.approx(float(table[member][f]), abs=0.005)
            fused[fold] = fused[fold] + (scores - mat["TrainMean"][0, f]) / mat["TrainStd"][0, f]
    fusion = loadmat(out / "scores" / "sum_all.mat")
    assert str(fusion["Method"][0]) == "sum all" and str(fusion["Kind"][0]) == "fusion"
    assert "TrainMean" not in fusion and "Weights" not in fusion
    assert [str(m[0]) for m in fusion["Members"][0]] == list(members)
    for f, fold in enumerate((1, 2, 3)):
        assert np.allclose(fusion["DecisionValue"][0, f], fused[fold], rtol=1e-12, atol=1e-12)
        accuracy = 100 * np.mean(fused[fold].argmax(1) + 1 == fusion["TestLabels"][0, f].ravel())
        assert accuracy == pytest.approx(float(table["sum all"][f]), abs=0.005)
    # a learned fusion: its weights per fold (as in config.json), members z-scored by their out-of-fold scores
    learned = loadmat(out / "scores" / "learned_all.mat")
    recorded = json.loads((out / "config.json").read_text())["learned_fusions"]["rows"]["learned all"]
    npz = [np.load(out / "scores" / f"{member}.npz") for member in members]
    for f, fold in enumerate((1, 2, 3)):
        weights = learned["Weights"][0, f].ravel()
        assert weights.sum() == pytest.approx(1.0)
        assert {m: w for m, w in zip(members, weights) if w} == pytest.approx(recorded[f]["weights"], abs=1e-6)
        inner = [m[f"fold_{fold}_inner_scores"] for m in npz]
        expected = sum(w * (m[f"fold_{fold}_test_scores"] - i.mean()) / i.std() for w, m, i in zip(weights, npz, inner))
        assert np.allclose(learned["DecisionValue"][0, f], expected, rtol=1e-6, atol=1e-6)
        accuracy = 100 * np.mean(expected.argmax(1) + 1 == learned["TestLabels"][0, f].ravel())
        assert learned["Accuracy"][0, f] == pytest.approx(accuracy) == pytest.approx(float(table["learned all"][f]),
                                                                                     abs=0.005)


def test_a_run_without_export_removes_the_mat_files_of_an_earlier_one(digits_runs, tmp_path, monkeypatch, cli):
    """The .mat files are the run's own (in manifest.json): a later run that does not write them removes
    them, and leaves a .mat file it did not write."""
    import shutil

    out = shutil.copytree(digits_runs["mat"], tmp_path / "out")
    assert "scores/sum_all.mat" in json.loads((out / "manifest.json").read_text())["files"]
    (out / "scores" / "mine.mat").write_bytes(b"not dissim's")
    monkeypatch.setenv("DISSIM_CACHE", str(digits_runs["cache"]))
    without_frozen_baseline(monkeypatch)
    status, _, err = cli("--dataset", "mat", "--data-root", digits_runs["mat_file"], "--pipeline",
                         digits_runs["recipe"], "--out", out, "--fuse-only", "--no-progress")
    assert status == 0, err
    assert [p.name for p in (out / "scores").glob("*.mat")] == ["mine.mat"]
    assert (out / "scores" / "tiny-bce-adam-fully-k2.npz").is_file()


def test_export_mat_outside_ensemble_recipes_is_an_error(cli):
    status, _, err = cli("--pipeline", "openset", "--export", "mat", "--dry-run")
    assert_one_line_error(status, err, "--export mat applies to ensemble recipes", "drop it for openset recipes")


def test_file_stems_keep_member_names_and_make_fusion_names_safe():
    from dissim.eval.report import RowScores
    from dissim.experiment.mat_export import file_stems

    def row(name):
        return RowScores(name, "fusion", (), (), (), (), (), (), ())

    assert file_stems([row("sn1-bce-adam-fully-k15"), row("FULLY / Cross"), row("FULLY : Cross"), row("a+b")]) == [
        "sn1-bce-adam-fully-k15", "FULLY_Cross", "FULLY_Cross-2", "a+b"]
