"""Build the embedded spectral data sets of the package from ``../shared/data``.

    python tools/build_embedded_spectra.py [--source ../shared/data] [--out dissim/data/embedded]

Writes ``rruff-ir.npz`` and ``coffee.npz`` (and the licence files) into the package; the README
beside them describes their content and provenance. Users never need ``../shared``: run time
reads only the package files. Re-running on the same source gives the same arrays.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dissim.data.rruff import parse_rruff_text  # noqa: E402
from dissim.data.spectra import GRID_TOLERANCE, RRUFF_IR_GRID  # noqa: E402
from dissim.data.spectral import covers, resample  # noqa: E402

APACHE_LICENSE = Path("/usr/share/common-licenses/Apache-2.0")


def build_rruff(tarball: Path, out: Path) -> None:
    spectra, names, ids, files = [], [], [], []
    skipped: list[tuple[str, float, float]] = []
    with tarfile.open(tarball) as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and m.name.endswith(".txt")),
                         key=lambda m: m.name)
        for member in members:
            text = archive.extractfile(member).read().decode("utf-8", errors="replace")
            spectrum = parse_rruff_text(text, source=member.name)
            if not covers(spectrum.wavenumbers, RRUFF_IR_GRID, GRID_TOLERANCE):
                skipped.append((Path(member.name).name, spectrum.wavenumbers[0], spectrum.wavenumbers[-1]))
                continue
            spectra.append(resample(spectrum.wavenumbers, spectrum.values, RRUFF_IR_GRID, GRID_TOLERANCE,
                                    where=member.name))
            names.append(spectrum.name)
            # the sample id of the file name (R050190-1; the header's ##RRUFFID= lacks the suffix)
            # and the file's serial number: a few samples were measured more than once
            file = Path(member.name).name
            parts = Path(file).stem.split("__")
            ids.append(f"{parts[1]}_{parts[-1]}" if len(parts) >= 3 else spectrum.rruff_id)
            files.append(file)
    order = sorted(range(len(names)), key=lambda i: (names[i], ids[i]))
    array = np.stack([spectra[i] for i in order])
    if np.abs(array).max() >= 6e4:
        raise SystemExit("values beyond float16 range: store float32")
    if len(set(ids)) != len(ids):
        dupes = [k for k, v in Counter(ids).items() if v > 1]
        raise SystemExit(f"repeated sample ids {dupes[:5]}: item ids must be unique")
    np.savez_compressed(out / "rruff-ir.npz", spectra=array.astype(np.float16),
                        wavenumbers=RRUFF_IR_GRID.astype(np.float64),
                        names=np.array([names[i] for i in order]), rruff_ids=np.array([ids[i] for i in order]),
                        files=np.array([files[i] for i in order]))
    counts = Counter(names)
    far = sum(1 for _, lo, hi in skipped if hi < 1000)
    print(f"rruff-ir: {len(names)} spectra of {len(counts)} minerals "
          f"({sum(c >= 2 for c in counts.values())} with >= 2 spectra, {sum(c for c in counts.values() if c >= 2)} "
          f"spectra); skipped {len(skipped)} not spanning {RRUFF_IR_GRID[0]:g}-{RRUFF_IR_GRID[-1]:g} "
          f"({far} far-infrared, {len(skipped) - far} partial mid-infrared):")
    for file, lo, hi in skipped:
        if hi >= 1000:
            print(f"  {file}: {lo:.1f}-{hi:.1f}")
    print(f"  max |error| of float16 storage: {np.abs(array.astype(np.float16).astype(np.float64) - array).max():.2e}")


def build_coffee(folder: Path, out: Path) -> None:
    with open(folder / "coffee_spectra.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    spectra = np.array([[float(v) for v in row] for row in body], dtype=np.float64)
    with open(folder / "coffee_labels.csv", newline="") as handle:
        labels = [row[0] for row in list(csv.reader(handle))[1:]]
    if spectra.shape[0] != len(labels):
        raise SystemExit(f"coffee: {spectra.shape[0]} spectra but {len(labels)} labels")
    axis = np.array([float(h) for h in header])
    np.savez_compressed(out / "coffee.npz", spectra=spectra.astype(np.float32), axis=axis, labels=np.array(labels))
    shutil.copyfile(folder / "LICENSE", out / "LICENSE-coffee")
    print(f"coffee: {spectra.shape[0]} spectra x {spectra.shape[1]} points, classes {dict(Counter(labels))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "dissim" / "data" / "embedded")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_rruff(args.source / "rruff-ir-processed.tar.gz", args.out)
    build_coffee(args.source / "coffee", args.out)
    if APACHE_LICENSE.is_file():
        shutil.copyfile(APACHE_LICENSE, args.out / "LICENSE-rruff-ir")
    else:
        print(f"warning: {APACHE_LICENSE} not found; LICENSE-rruff-ir left as it is", file=sys.stderr)
    for path in sorted(args.out.iterdir()):
        print(f"  {path.name}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
