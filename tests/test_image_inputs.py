"""Image files and trees as users have them: 16/32-bit and float TIFFs decoded to their real range
(the same pictures as PNG give the same pixels), linked folders followed, skipped entries reported,
unreadable folders refused with a line."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from conftest import synthetic_image, write_recipe, write_tree
from PIL import Image

from dissim.data import load_dataset, preprocess
from dissim.data.images import MAX_PIXELS, check_image_size, decode_image
from dissim.errors import UserError

# how the same 8-bit picture is stored at another depth (Pillow writes each as a TIFF)
DEPTHS = {
    "float-0-1": lambda a: a.astype(np.float32) / 255,
    "float-0-255": lambda a: a.astype(np.float32),
    "int32-0-255": lambda a: a.astype(np.int32),
    "uint16-full": lambda a: a.astype(np.uint16) * 257,
    "uint16-12-bit": lambda a: np.round(a * (4095 / 255)).astype(np.uint16),
}


def _tree(root, store, suffix: str):
    rng = np.random.default_rng(0)
    for cls, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(store(synthetic_image(cls, rng))).save(root / name / f"{i}{suffix}")
    return root


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_16_32_bit_and_float_tiffs_give_the_pixels_of_the_same_pictures_as_png(tmp_path, depth):
    png = load_dataset("folder", _tree(tmp_path / "png", lambda a: a, ".png"), seed=0)
    tiff = load_dataset("folder", _tree(tmp_path / "tif", DEPTHS[depth], ".tif"), seed=0)
    assert Image.open(tmp_path / "tif" / "a" / "0.tif").mode in ("F", "I", "I;16")
    assert tiff.channels == png.channels == 1
    for i in range(len(png)):
        assert np.array_equal(tiff.read(i), png.read(i)), tiff.item_names[i]
    assert np.array_equal(preprocess(tiff, 12), preprocess(png, 12))
    assert any("intensities" in note for note in tiff.notes)  # the rule is said, and kept in config.json
    assert tiff.fingerprint != png.fingerprint


def test_one_rule_for_the_whole_set_keeps_a_dark_16_bit_image_dark(tmp_path):
    root = tmp_path / "t"
    for name, value in (("a", 65535), ("b", 300)):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((6, 6), value, np.uint16)).save(root / name / f"{i}.png")
    data = load_dataset("folder", root, seed=0)
    assert {int(data.read(i).max()) for i in range(len(data))} == {255, 1}  # 300 / 257, not stretched to 255


def test_a_lone_high_depth_image_decodes_by_its_own_range():
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.array([[0, 2048, 4095]], np.uint16)).save(buffer, "PNG")
    assert decode_image(buffer.getvalue(), "x.png")[0, :, 0].tolist() == [0, 128, 255]


def test_the_square_padding_limit_is_checked_before_allocating():
    check_image_size(9000, 9000, "ok.png")
    with pytest.raises(UserError, match="100000x100000 = 10,000,000,000 pixels"):
        check_image_size(1, 100000, "wide.png")
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS


def test_a_linked_class_folder_is_followed(tmp_path):
    root = write_tree(tmp_path / "data", per_class=6)
    shutil.move(root / "c", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", root / "c")
    data = load_dataset("folder", root, seed=0)
    assert data.class_names == ["a", "b", "c"] and len(data) == 18


def test_skipped_entries_are_reported_and_logged(cli, tmp_path):
    root = write_tree(tmp_path / "data", per_class=6)
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "a" / "notes.txt").write_text("not an image")
    data = load_dataset("folder", root, seed=0)
    assert data.notes == (f"skipped under {root}: 1 hidden entry (e.g. .DS_Store), 1 non-image entry "
                          "(e.g. a/notes.txt)",)
    status, out, err = cli("--dataset", "folder", "--data-root", root, "--dry-run", "--pipeline",
                           write_recipe(tmp_path / "r.toml"))
    assert status == 0 and "a/notes.txt" in err


def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "data", per_class=6)
    scandir = os.scandir

    def refusing(path="."):
        if str(path).endswith(os.sep + "b"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(UserError, match=r"cannot read folder .*/data/b \(Permission denied\)"):
        load_dataset("folder", root, seed=0)


def test_zero_padded_fold_folders_are_folds_one_to_n(tmp_path):
    root = write_tree(tmp_path / "t", per_class=6, folds=3)
    for k in (1, 2, 3):
        (root / f"Fold{k}").rename(root / f"Fold0{k}")
    data = load_dataset("folder", root, seed=0)
    assert len(data.folds) == 3
    assert all(data.item_names[i].startswith("Fold02/") for i in data.folds[1][1])
