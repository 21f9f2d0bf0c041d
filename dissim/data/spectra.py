"""1-D spectral data sets: the ``SpectraSet`` record, the embedded ``rruff-ir`` and ``coffee`` sets,
and a loader for a folder of the user's own RRUFF downloads (``--dataset rruff-ir --data-root DIR``).

The common grid of ``rruff-ir`` is 400-3996 cm^-1 in steps of 4 cm^-1 (900 points):
- 400-4000 cm^-1 is the mid-infrared range that almost every RRUFF processed infrared spectrum
  spans (most run 399.2-3999.6 cm^-1); the ~110 far-infrared spectra (50-700 cm^-1) share only
  300 cm^-1 with it and are left out rather than padded with invented values;
- the files are sampled every ~1.93 cm^-1; infrared bands of minerals are tens of cm^-1 wide, so
  4 cm^-1 keeps their shape while halving the input of the network (900 instead of ~1870 points).
Spectra are resampled by linear interpolation (``np.interp``); a spectrum must reach within
``GRID_TOLERANCE`` of both ends of the grid (its edge value is held over that gap).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import UserError
from .dataset import check_record
from .registry import register_dataset
from .rruff import read_rruff_file
from .spectral import covers, resample

EMBEDDED = Path(__file__).resolve().parent / "embedded"
RRUFF_IR_GRID = np.arange(400.0, 4000.0, 4.0)  # 400, 404, ..., 3996 cm^-1 (900 points)
GRID_TOLERANCE = 5.0  # cm^-1 a spectrum may fall short of each end of the grid
RRUFF_SUFFIXES = (".txt",)


@dataclass
class SpectraSet:
    """Spectra on one common axis, with labels and where they came from.

    ``spectra`` is (N, L) float32 on ``wavenumbers`` (L,); ``labels`` index ``class_names``;
    ``item_ids`` name each spectrum (e.g. its RRUFF id); ``fingerprint`` identifies the content.
    """

    name: str
    spectra: np.ndarray
    wavenumbers: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    item_ids: list[str]
    fingerprint: str
    protocol: str = ""
    provenance: str = ""
    axis: str = "wavenumber (cm^-1)"
    notes: list[str] = field(default_factory=list)

    dims: ClassVar[int] = 1  # the dimensions of a network input (spectra)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def length(self) -> int:
        return self.spectra.shape[1]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.n_classes)


def check_spectra_set(data: SpectraSet, where: str) -> None:
    """A SpectraSet as :func:`~dissim.data.dataset.check_record` and: finite spectra (N, L) on
    a finite axis of L points, one item id per spectrum; UserError naming ``where``."""
    check_record(data, where)
    spectra, axis = np.asarray(data.spectra), np.asarray(data.wavenumbers)
    if spectra.ndim != 2 or spectra.dtype.kind not in "fiu" or len(spectra) != len(data.labels):
        raise UserError(f"{where}: spectra must be a numeric (N, L) array with one row per label, got "
                        f"{spectra.dtype} {spectra.shape} for {len(data.labels)} labels")
    if axis.ndim != 1 or len(axis) != spectra.shape[1] or not np.isfinite(axis).all():
        raise UserError(f"{where}: wavenumbers must be {spectra.shape[1]} finite values, got shape {axis.shape}")
    if not np.isfinite(spectra).all():
        row = int(np.flatnonzero(~np.isfinite(spectra).all(axis=1))[0])
        raise UserError(f"{where}: spectrum {row} holds NaN or infinite values")
    if len(data.item_ids) != len(spectra):
        raise UserError(f"{where}: {len(data.item_ids)} item ids for {len(spectra)} spectra")


def make_spectra_set(name: str, spectra: np.ndarray, wavenumbers: np.ndarray, names: list[str],
                     item_ids: list[str], **details) -> SpectraSet:
    """A SpectraSet from per-spectrum class names (classes sorted by name)."""
    spectra = np.ascontiguousarray(spectra, dtype=np.float32)
    if spectra.ndim != 2 or spectra.shape[1] != len(wavenumbers) or spectra.shape[0] != len(names):
        raise ValueError(f"{name}: spectra {spectra.shape} do not match {len(names)} names and "
                         f"{len(wavenumbers)} wavenumbers")
    class_names, labels = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    digest = hashlib.blake2b(spectra.tobytes() + "\n".join(names).encode(), digest_size=20).hexdigest()
    return SpectraSet(name=name, spectra=spectra, wavenumbers=np.asarray(wavenumbers, dtype=np.float64),
                      labels=labels.astype(np.int64), class_names=[str(c) for c in class_names],
                      item_ids=[str(i) for i in item_ids], fingerprint=digest, **details)


def _read_embedded(file: str) -> dict:
    path = EMBEDDED / file
    if not path.is_file():
        raise UserError(f"the embedded data file {path} is missing: reinstall dissim "
                        "(or rebuild it with tools/build_embedded_spectra.py)")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


ONE_SHOT_PROTOCOL = "one-shot matching of unseen classes (minerals with >= 2 spectra), class-disjoint partitions"


@register_dataset("rruff-ir", "RRUFF infrared spectra (768 mid-IR spectra, 453 minerals), one-shot protocol; "
                  "embedded, or --data-root DIR of RRUFF .txt files")
def load_rruff_ir(root: Path | None, seed: int) -> SpectraSet:
    """The embedded RRUFF infrared set, or the user's RRUFF text files under ``root``."""
    if root is not None:
        # the skipped files are in the set's notes, which a run logs and keeps in config.json
        return load_rruff_folder(root, RRUFF_IR_GRID, name="rruff-ir", log=lambda message: None)
    data = _read_embedded("rruff-ir.npz")
    return make_spectra_set(
        "rruff-ir", data["spectra"].astype(np.float32), data["wavenumbers"], [str(n) for n in data["names"]],
        [str(i) for i in data["rruff_ids"]], protocol=ONE_SHOT_PROTOCOL,
        provenance="RRUFF project infrared processed spectra (Lafuente et al. 2015), via "
                   "NickTachmazidis/FastAPI_RRUFF_Database@de8792eb (Apache-2.0); see dissim/data/embedded/README.md")


@register_dataset("coffee", "chemotools coffee FT-IR spectra (60 x 1841, 3 origins); embedded")
def load_coffee(root: Path | None, seed: int) -> SpectraSet:
    """The chemotools coffee FT-IR spectra: 20 per origin (Brasil, Ethiopia, Vietnam)."""
    if root is not None:
        raise UserError("coffee is embedded: drop --data-root")
    data = _read_embedded("coffee.npz")
    return make_spectra_set(
        "coffee", data["spectra"].astype(np.float32), data["axis"], [str(n) for n in data["labels"]],
        [f"coffee-{i:02d}" for i in range(len(data["labels"]))], axis="point index (no wavenumbers in the source)",
        protocol="known/unknown-origin identification (3 classes: too few for one-shot class splits)",
        provenance="chemotools 0.5.0 datasets (MIT); see dissim/data/embedded/README.md")


def find_spectrum_files(root: Path) -> list[Path]:
    """The RRUFF text files under ``root`` (a folder, searched recursively, or a single file)."""
    root = Path(root)
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in RRUFF_SUFFIXES)
    if not files:
        raise UserError(f"{root} holds no RRUFF text files (*.txt): give a folder of RRUFF downloads")
    return files


def load_rruff_folder(root: str | Path, grid: np.ndarray = RRUFF_IR_GRID, name: str = "rruff",
                      tolerance: float = GRID_TOLERANCE, log=None) -> SpectraSet:
    """RRUFF text files under ``root`` resampled onto ``grid``; classes are their ``##NAMES=``.

    Files that do not span the grid are skipped (and counted in ``notes``); a file without a
    ``##NAMES=`` line is an error naming it.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    grid = np.asarray(grid, dtype=np.float64)
    spectra, names, ids, skipped = [], [], [], []
    for path in find_spectrum_files(Path(root)):
        spectrum = read_rruff_file(path)
        if spectrum.name is None:
            raise UserError(f"{path}: no ##NAMES= line, so its mineral is unknown; add one (##NAMES=<mineral>)")
        if not covers(spectrum.wavenumbers, grid, tolerance):
            skipped.append(path.name)
            continue
        spectra.append(resample(spectrum.wavenumbers, spectrum.values, grid, tolerance, where=str(path)))
        names.append(spectrum.name)
        ids.append(spectrum.rruff_id or path.stem)
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} file(s) skipped for not spanning {grid[0]:g}-{grid[-1]:g}, e.g. {skipped[0]}")
        log(f"{name}: {notes[-1]}")
    if len(spectra) < 2:
        raise UserError(f"{root}: fewer than two RRUFF spectra span the grid {grid[0]:g}-{grid[-1]:g} "
                        f"({len(skipped)} skipped): give mid-infrared RRUFF files")
    return make_spectra_set(name, np.stack(spectra), grid, names, ids, protocol=ONE_SHOT_PROTOCOL,
                            provenance=f"RRUFF text files under {root}", notes=notes)
