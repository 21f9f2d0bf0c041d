"""The MATLAB toolbox's DATA .mat files (v5 and v7.3): images, labels and the file's folds as written."""

from __future__ import annotations

import sys

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


def test_digits_written_as_data_mat_is_the_digits_set(tmp_path):
    """The whole embedded digits set with its five folds, through a .mat file: same images, labels, folds."""
    digits = load_dataset("digits")
    images = [digits.read(i)[:, :, 0] for i in range(len(digits))]
    path = write_mat(tmp_path / "digits.mat", {"DATA": toolbox_data(images, digits.labels, digits.folds)})
    loaded = load_dataset("mat", root=path)
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
