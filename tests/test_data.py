"""Data sets: registry, folder and InfLar layouts (tree and zip), preprocessing and its cache."""

import zipfile

import numpy as np
import pytest
from conftest import write_tree
from PIL import Image

from dissim.data import list_datasets, load_dataset, preprocess, square_pad
from dissim.data.preprocess import cache_path
from dissim.errors import UserError


def test_digits_is_embedded_with_stratified_seeded_folds():
    data = load_dataset("digits", seed=3)
    assert len(data) == 1797 and data.n_classes == 10 and data.channels == 1
    assert len(data.folds) == 5
    tests = np.concatenate([test for _, test in data.folds])
    assert np.array_equal(np.sort(tests), np.arange(1797))  # every image tested exactly once
    for train, test in data.folds:
        assert not set(train) & set(test)
        share = np.bincount(data.labels[test], minlength=10) / len(test)
        assert np.all(np.abs(share - np.bincount(data.labels) / 1797) < 0.02)
    again = load_dataset("digits", seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(data.folds, again.folds))
    other = load_dataset("digits", seed=4)
    assert not np.array_equal(data.folds[0][1], other.folds[0][1])
    assert data.read(0).dtype == np.uint8 and data.read(0).max() > 16  # 0-16 scaled to 0-255


def test_folder_tree_with_class_folders(image_tree):
    (image_tree / ".DS_Store").write_bytes(b"\0\1junk")
    (image_tree / "a" / "notes.txt").write_text("not an image")
    data = load_dataset("folder", image_tree, seed=0)
    assert data.class_names == ["a", "b", "c"] and len(data) == 30
    assert len(data.folds) == 5 and data.channels == 1


def test_folder_tree_with_fold_folders_gives_those_folds(tmp_path):
    root = write_tree(tmp_path / "t", per_class=6, folds=3)
    data = load_dataset("folder", root, seed=0)
    assert len(data.folds) == 3
    for k, (train, test) in enumerate(data.folds, 1):
        assert all(data.item_names[i].startswith(f"Fold{k}/") for i in test)
        assert not any(data.item_names[i].startswith(f"Fold{k}/") for i in train)


def _inflar_tree(root):
    return write_tree(root / "FRAMES", classes=("B", "I", "S", "U"), per_class=6, folds=3)


def test_inflar_from_unpacked_folder_and_from_zip(tmp_path):
    frames = _inflar_tree(tmp_path / "unpacked")
    (frames / "Fold1" / ".DS_Store").write_bytes(b"junk")
    from_folder = load_dataset("InfLar", tmp_path / "unpacked", seed=0)
    archive = tmp_path / "FRAMES.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(frames.rglob("*")):
            zf.write(path, path.relative_to(tmp_path / "unpacked").as_posix())
        zf.writestr("__MACOSX/FRAMES/._x.png", b"resource fork")
    from_zip = load_dataset("inflar", archive, seed=0)
    for data in (from_folder, from_zip):
        assert data.class_names == ["B", "I", "S", "U"] and len(data) == 24 and len(data.folds) == 3
    assert np.array_equal(from_folder.labels, from_zip.labels)
    assert np.array_equal(from_folder.read(5), from_zip.read(5))
    assert np.array_equal(preprocess(from_folder, 12), preprocess(from_zip, 12))


def test_square_pad_puts_the_larger_half_before():
    image = np.ones((2, 5, 1), dtype=np.uint8)
    padded = square_pad(image)
    assert padded.shape == (5, 5, 1)
    assert padded[:, :, 0].sum(axis=1).tolist() == [0, 0, 5, 5, 0]  # ceil(3/2)=2 rows before, 1 after


def test_preprocess_keeps_grey_single_channel_and_caches(isolated_cache):
    data = load_dataset("digits", seed=0)
    first = preprocess(data, 20)
    assert first.shape == (1797, 1, 20, 20) and first.dtype == np.uint8
    assert cache_path(data, 20).is_file()
    assert np.array_equal(preprocess(data, 20), first)


def test_preprocess_colour_and_mixed_channels(tmp_path):
    root = write_tree(tmp_path / "colour", per_class=5, colour=True)
    grey = np.full((10, 14), 77, dtype=np.uint8)
    Image.fromarray(grey).save(root / "a" / "grey.png")
    data = load_dataset("folder", root, seed=0)
    assert data.channels == 3
    images = preprocess(data, 16)
    assert images.shape == (16, 3, 16, 16)
    grey_index = data.item_names.index("a/grey.png")
    assert np.array_equal(images[grey_index, 0], images[grey_index, 2])  # grey replicated
    assert images[grey_index, 0, 8, 8] == 77


def test_damaged_preprocess_cache_is_recomputed(isolated_cache):
    data = load_dataset("digits", seed=0)
    good = preprocess(data, 12)
    cache_path(data, 12).write_bytes(b"truncated")
    assert np.array_equal(preprocess(data, 12), good)


def test_registry_lists_the_paper_sets():
    names = {name for name, _ in list_datasets()}
    assert {"digits", "folder", "InfLar", "RPE", "Port", "BIRDz", "CAT"} <= names


@pytest.mark.parametrize("name", ["RPE", "Port", "BIRDz", "CAT"])
def test_paper_sets_say_where_to_get_the_data(name):
    with pytest.raises(UserError, match=f"{name} is not bundled"):
        load_dataset(name, None)
