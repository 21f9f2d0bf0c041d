"""The authors' MATLAB toolbox layout: a ``.mat`` file whose variable ``DATA`` is a cell array

- ``DATA{1}``: the images, a cell array (grey H x W or colour H x W x 3, any size, each its own),
  or a numeric matrix with one spectrum per row (read as a spectra set);
- ``DATA{2}``: the labels, one per image (whole numbers or text);
- ``DATA{3}``: ``DIV``, one row per fold: the first ``DIM1`` entries are the training images, the
  entries after them up to ``DIM2`` the test images, as 1-based indices into ``DATA{1}``;
- ``DATA{4}``: ``DIM1``, one value, or one per fold (patient-wise splits train on different counts);
- ``DATA{5}``: ``DIM2``, one value, or one per fold.

The folds are the file's folds. Entries of a ``DIV`` row after ``DIM2`` are not read (the toolbox
reads ``DIV(fold, 1:DIM2)`` only). Pixel values become uint8 as MATLAB's ``uint8``/``im2uint8`` do:
uint8 as stored; logical 0/1; uint16 divided by 257; other integers must lie in 0..255; floating
point images are taken as 0..1 (scaled by 255) when every floating point image of the file lies in
[0, 1], else as 0..255 (rounded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .dataset import ImageSet
from .matfile import read_mat_variable
from .registry import register_dataset
from .spectra import SpectraSet

LAYOUT = "DATA = {images, labels, DIV, DIM1, DIM2} (see docs/matlab.md)"
FIELDS = {1: "DATA{1} (images)", 2: "DATA{2} (labels)", 3: "DATA{3} (DIV)", 4: "DATA{4} (DIM1)",
          5: "DATA{5} (DIM2)"}


@register_dataset("mat", "a MATLAB toolbox DATA cell {images or spectra, labels, DIV, DIM1, DIM2}, the file's folds; "
                  "--data-root FILE.mat")
def load_mat_set(root: Path | None, seed: int) -> ImageSet | SpectraSet:
    """The data set held by the ``DATA`` cell of the .mat file ``root``."""
    if root is None or root.is_dir():
        raise UserError(f"the mat data set needs --data-root FILE.mat (a MATLAB file holding {LAYOUT})"
                        + (f"; {root} is a folder" if root is not None else ""))
    return read_toolbox_data(root)


def read_toolbox_data(path: str | Path) -> ImageSet | SpectraSet:
    """Images (or spectra), labels and folds of the toolbox's ``DATA`` cell in ``path``."""
    path = Path(path)
    data = read_mat_variable(path, "DATA")
    if not (isinstance(data, np.ndarray) and data.dtype == object):
        raise UserError(f"{path}: DATA is not a cell array: store {LAYOUT}")
    cells = list(data.ravel(order="F"))
    if len(cells) < 2:
        raise UserError(f"{path}: DATA has {len(cells)} cell(s), expected 5: store {LAYOUT}")
    first = cells[0]
    if isinstance(first, np.ndarray) and first.dtype == object:
        return _image_set(path, cells)
    if isinstance(first, np.ndarray) and first.ndim == 2 and first.dtype.kind in "uif":
        return _spectra_set(path, cells)
    raise UserError(f"{path}: {FIELDS[1]} is {_describe(first)}: store the images as a cell array "
                    "(DATA{1}{i} = image i) or the spectra as a numeric matrix, one spectrum per row")


def _image_set(path: Path, cells: list) -> ImageSet:
    raw = list(cells[0].ravel(order="F"))
    if not raw:
        raise UserError(f"{path}: {FIELDS[1]} is empty: give one image per cell")
    codes, class_names = _labels(path, cells[1], len(raw), "image")
    if len(cells) < 5:
        raise UserError(f"{path}: DATA has {len(cells)} cells but images need 5, the last three the folds: "
                        f"store {LAYOUT}")
    folds, dim1 = _folds(path, cells, len(raw))
    images = _uint8_images(path, raw)
    digest = hashlib.blake2b(digest_size=20)
    for image in images:
        digest.update(repr(image.shape).encode())
        digest.update(image.tobytes())
    digest.update(codes.tobytes() + "\n".join(class_names).encode())
    channels = 3 if any(image.shape[2] == 3 for image in images) else 1
    return ImageSet(name="mat", read=lambda i: images[i], labels=codes, class_names=class_names, folds=folds,
                    fingerprint=digest.hexdigest(), channels=channels,
                    item_names=[f"DATA{{1}}{{{i}}}" for i in range(1, len(images) + 1)],
                    protocol=f"the {len(folds)} folds of DIV in {path.name} ({dim1})")


def _spectra_set(path: Path, cells: list) -> SpectraSet:
    matrix = cells[0]
    n_labels = np.size(cells[1]) if isinstance(cells[1], np.ndarray) else 1
    if matrix.shape[0] != n_labels and matrix.shape[1] == n_labels:
        raise UserError(f"{path}: {FIELDS[1]} is {matrix.shape[0]} x {matrix.shape[1]} with one spectrum per column: "
                        "store one spectrum per row (DATA{1} = DATA{1}')")
    codes, class_names = _labels(path, cells[1], matrix.shape[0], "spectrum")
    spectra = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.all(np.isfinite(spectra)):
        row = int(np.flatnonzero(~np.isfinite(spectra).all(axis=1))[0]) + 1
        raise UserError(f"{path}: {FIELDS[1]} row {row} holds NaN or Inf: clean or drop that spectrum")
    notes = []
    if len(cells) >= 5:
        folds, _ = _folds(path, cells, len(spectra))
        notes.append(f"the {len(folds)} folds of DIV are not used: the spectra protocols split by class")
    digest = hashlib.blake2b(spectra.tobytes() + codes.tobytes() + "\n".join(class_names).encode(), digest_size=20)
    return SpectraSet(name="mat", spectra=spectra, wavenumbers=np.arange(1.0, spectra.shape[1] + 1), labels=codes,
                      class_names=class_names, item_ids=[f"DATA{{1}}({i},:)" for i in range(1, len(spectra) + 1)],
                      fingerprint=digest.hexdigest(), protocol="", provenance=f"DATA in {path}",
                      axis="point index (a .mat file holds no wavenumbers)", notes=notes)


def _describe(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, np.ndarray):
        kind = "a cell array" if value.dtype == object else f"a {value.dtype} array"
        return f"{kind} of size {' x '.join(map(str, value.shape))}"
    return f"a {type(value).__name__}"


def _labels(path: Path, value, n: int, item: str) -> tuple[np.ndarray, list[str]]:
    """(class codes 0..C-1, class names): numeric labels sort by value, text labels by name."""
    field = FIELDS[2]
    if isinstance(value, str):
        value = np.array([value], dtype=object)
    elif isinstance(value, np.ndarray) and value.dtype.kind == "U":  # a char matrix: one label per row
        value = value.astype(object)
    if not isinstance(value, np.ndarray) or (value.dtype != object and value.dtype.kind not in "uifb"):
        raise UserError(f"{path}: {field} is {_describe(value)}: give one label per {item}, whole numbers or text")
    if sum(d > 1 for d in value.shape) > 1:
        raise UserError(f"{path}: {field} is a {' x '.join(map(str, value.shape))} matrix: give a vector, "
                        f"one label per {item}")
    flat = value.ravel(order="F")
    if len(flat) != n:
        raise UserError(f"{path}: {field} holds {len(flat)} labels but {FIELDS[1]} holds {n} {item}s: "
                        f"give one label per {item}, in the same order")
    if value.dtype == object:
        if not all(isinstance(v, str) for v in flat):
            raise UserError(f"{path}: {field} is a cell array that is not all text: give text labels or numbers")
        names, codes = np.unique(np.array(flat, dtype=str), return_inverse=True)
        return codes.astype(np.int64), [str(name) for name in names]
    numbers = flat.astype(np.float64)
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        bad = next(v for v in numbers if not np.isfinite(v) or v != np.round(v))
        raise UserError(f"{path}: {field} holds the label {bad:g}: labels must be whole numbers (or text)")
    values, codes = np.unique(numbers.astype(np.int64), return_inverse=True)
    return codes.astype(np.int64), [str(v) for v in values]


def _per_fold(path: Path, value, key: int, n_folds: int) -> np.ndarray:
    field = FIELDS[key]
    if not (isinstance(value, np.ndarray) and value.dtype.kind in "uif" and value.size in (1, n_folds)):
        size = np.size(value) if isinstance(value, np.ndarray) else 1
        raise UserError(f"{path}: {field} holds {size} value(s) but DIV has {n_folds} row(s): give one number, "
                        "or one per fold (one per DIV row)")
    numbers = value.ravel(order="F").astype(np.float64)
    if not np.all(np.isfinite(numbers)) or np.any(numbers != np.round(numbers)):
        raise UserError(f"{path}: {field} must hold whole numbers, got {numbers.tolist()}")
    return np.broadcast_to(numbers.astype(np.int64), (n_folds,))


def _folds(path: Path, cells: list, n: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(train, test) 0-based index pairs, one per DIV row, and how DIM1 was given (for the protocol line)."""
    div = cells[2]
    if not (isinstance(div, np.ndarray) and div.dtype.kind in "uif" and div.ndim == 2 and div.size):
        raise UserError(f"{path}: {FIELDS[3]} is {_describe(div)}: give a numeric matrix, one row of indices per fold")
    n_folds = div.shape[0]
    dim1 = _per_fold(path, cells[3], 4, n_folds)
    dim2 = _per_fold(path, cells[4], 5, n_folds)
    folds = []
    for row, (train_size, size) in enumerate(zip(dim1, dim2), 1):
        where = f"{path}: {FIELDS[3]} row {row}"
        if size > div.shape[1]:
            raise UserError(f"{path}: {FIELDS[5]} is {size} but the DIV rows hold {div.shape[1]} entries: set DIM2 "
                            "to the number of training plus test indices of a row (DIV holds one row per fold)")
        if size > n:
            raise UserError(f"{where} is longer than the images: DIM2 = {size} indices but {FIELDS[1]} holds "
                            f"{n} images; fix DIM2 or DIV so that a row lists each image at most once")
        if not 1 <= train_size < size:
            raise UserError(f"{path}: {FIELDS[4]} is {train_size} for fold {row}: it must lie in 1..DIM2-1 = "
                            f"1..{size - 1} (a row's first DIM1 entries train, the rest up to DIM2 test)")
        entries = div[row - 1, :size].astype(np.float64)
        if not np.all(np.isfinite(entries)) or np.any(entries != np.round(entries)):
            raise UserError(f"{where} holds entries that are not whole numbers: DIV holds 1-based image indices")
        indices = entries.astype(np.int64)
        if np.any(indices == 0):
            raise UserError(f"{where} holds the index 0: DIV indices are 1-based (MATLAB counts from 1); "
                            "add 1 to 0-based indices")
        outside = indices[(indices < 1) | (indices > n)]
        if len(outside):
            raise UserError(f"{where} holds the index {outside[0]}, outside 1..{n} ({FIELDS[1]} holds {n} images): "
                            "fix DIV")
        train, test = indices[:train_size], indices[train_size:]
        both = np.intersect1d(train, test)
        if len(both):
            raise UserError(f"{where} puts image {both[0]} in both the training and the test part: "
                            "a fold's test images must be unseen in its training")
        values, counts = np.unique(indices, return_counts=True)
        if np.any(counts > 1):
            raise UserError(f"{where} lists image {values[counts > 1][0]} twice: list each image once per fold")
        folds.append((train - 1, test - 1))
    given = f"DIM1 = {dim1[0]}" if len(set(dim1.tolist())) == 1 else f"DIM1 per fold {dim1.tolist()}"
    return folds, given


def _uint8_images(path: Path, raw: list) -> list[np.ndarray]:
    """Each image as an (H, W, C) uint8 array, C = 1 or 3 (see the module's rules)."""
    for i, image in enumerate(raw, 1):
        where = f"{path}: DATA{{1}}{{{i}}}"
        if not isinstance(image, np.ndarray) or image.dtype.kind not in "uifb":
            raise UserError(f"{where} is {_describe(image)}: each cell of DATA{{1}} must hold an image "
                            "(H x W grey or H x W x 3 colour numbers)")
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))) or 0 in image.shape:
            raise UserError(f"{where} is of size {' x '.join(map(str, image.shape))}: give H x W (grey) or "
                            "H x W x 3 (colour) images")
        if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
            raise UserError(f"{where} holds NaN or Inf pixels: fix the image")
    floats = [image for image in raw if image.dtype.kind == "f"]
    unit = bool(floats) and all(image.min() >= 0 and image.max() <= 1 for image in floats)
    out = []
    for i, image in enumerate(raw, 1):
        if image.dtype == np.uint8:
            pixels = image
        elif image.dtype == bool:
            pixels = image.astype(np.uint8)  # 0/1, as uint8(...) in MATLAB and as scipy reads v5 logicals
        elif image.dtype == np.uint16:
            pixels = np.round(image / 257.0).astype(np.uint8)
        else:
            values = np.round(image * 255.0) if unit and image.dtype.kind == "f" else np.round(image)
            if values.min() < 0 or values.max() > 255:
                scale = "0..1 or 0..255" if image.dtype.kind == "f" else "0..255"
                raise UserError(f"{path}: DATA{{1}}{{{i}}} holds values from {image.min():g} to {image.max():g}: "
                                f"{image.dtype} images must lie in {scale} (or store uint8 images)")
            pixels = values.astype(np.uint8)
        out.append(np.ascontiguousarray(pixels.reshape(*pixels.shape[:2], -1)))
    return out
