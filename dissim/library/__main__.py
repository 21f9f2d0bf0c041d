"""The reference-library command line: ``python -m dissim.library build|add|remove|query|info``.

    python -m dissim.library build LIB [--dataset rruff-ir] [--data-root DIR] [--epochs N] [--als] ...
    python -m dissim.library add LIB FILE_OR_DIR... [--label NAME]
    python -m dissim.library remove LIB LABEL
    python -m dissim.library query LIB FILE_OR_DIR... [--top-k 5]
    python -m dissim.library info LIB [--classes]

Spectra files are RRUFF text files (``##NAMES=`` header, then ``wavenumber, value`` rows); they are
resampled onto the library's grid (refused if they do not span it). A mistake the user can fix
exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dissim.library", description="A library of reference spectra matched by a "
                "Siamese network; classes are added and removed without retraining.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    b = sub.add_parser("build", help="train the network on a spectral data set and store its spectra as references")
    b.add_argument("library", type=Path, help="library file to write (e.g. minerals.lib)")
    b.add_argument("--dataset", default="rruff-ir", help="spectral data set (default rruff-ir, embedded)")
    b.add_argument("--data-root", help="folder of RRUFF text files instead of the embedded data")
    b.add_argument("--topology", default="liu-spectra", help="1-D layer table (name or .toml path)")
    b.add_argument("--epochs", type=int, default=30)
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--lr", type=float, default=1e-3)
    b.add_argument("--patience", type=int, default=10)
    b.add_argument("--als", action="store_true", help="baseline-correct spectra (ALS) before the network")
    b.add_argument("--no-references", action="store_true", help="store the trained network only, no references")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--no-progress", action="store_true")
    a = sub.add_parser("add", help="add reference spectra (RRUFF text files or folders of them)")
    a.add_argument("library", type=Path)
    a.add_argument("paths", nargs="+", type=Path)
    a.add_argument("--label", help="class of every added spectrum (default: each file's ##NAMES=)")
    r = sub.add_parser("remove", help="remove every reference of a class")
    r.add_argument("library", type=Path)
    r.add_argument("label")
    q = sub.add_parser("query", help="rank the library's classes for each query spectrum")
    q.add_argument("library", type=Path)
    q.add_argument("paths", nargs="+", type=Path)
    q.add_argument("--top-k", type=int, default=5)
    i = sub.add_parser("info", help="what the library holds")
    i.add_argument("library", type=Path)
    i.add_argument("--classes", action="store_true", help="list the classes with their reference counts")
    return p


def _read_spectra(paths: list[Path]):
    """(spectra per file, wavenumbers per file, names, ids) of the RRUFF files under ``paths``."""
    from ..data.rruff import read_rruff_file
    from ..data.spectra import find_spectrum_files

    files = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist: give RRUFF text files or folders of them")
        files += find_spectrum_files(path)
    return [read_rruff_file(f) for f in files]


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return choice


def _build(args) -> None:
    from ..data import load_dataset
    from ..data.spectra import SpectraSet
    from ..data.spectral import SpectralPreprocessing
    from ..oneshot.train import TrainSettings
    from .build import build_library

    data = load_dataset(args.dataset, args.data_root, args.seed)
    if not isinstance(data, SpectraSet):
        raise UserError(f"--dataset {args.dataset}: not a spectral data set (try rruff-ir)")
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience)
    library = build_library(data, topology=args.topology, settings=settings,
                            preprocessing=SpectralPreprocessing(als=args.als), seed=args.seed,
                            device=_device(args.device), references=not args.no_references,
                            progress=not args.no_progress and sys.stderr.isatty())
    library.save(args.library)
    print(f"wrote {args.library}: {len(library)} references of {len(library.classes)} classes "
          f"(network trained {library.info['epochs_run']} epochs on {library.info['train_classes']} classes)")


def _add(args) -> None:
    from .reference import ReferenceLibrary

    library = ReferenceLibrary.load(args.library)
    added = 0
    for spectrum in _read_spectra(args.paths):
        label = args.label or spectrum.name
        if not label:
            raise UserError(f"{spectrum.source}: no ##NAMES= line; give the class with --label")
        added += library.add(spectrum.values, label, ids=[spectrum.rruff_id or Path(spectrum.source).stem],
                             wavenumbers=spectrum.wavenumbers)
    library.save(args.library)
    print(f"added {added} reference(s); {args.library} holds {len(library)} references of {len(library.classes)} classes")


def _remove(args) -> None:
    from .reference import ReferenceLibrary

    library = ReferenceLibrary.load(args.library)
    removed = library.remove(args.label)
    library.save(args.library)
    print(f"removed {removed} reference(s) of {args.label!r}; {len(library)} references of "
          f"{len(library.classes)} classes remain")


def _query(args) -> None:
    import numpy as np

    from .reference import ReferenceLibrary

    library = ReferenceLibrary.load(args.library)
    spectra = _read_spectra(args.paths)
    # resample each file onto the grid first, then query all of them in one batch
    grid_spectra = np.stack([library.to_grid(s.values, s.wavenumbers, where=s.source)[0] for s in spectra])
    answers = library.query(grid_spectra, top_k=args.top_k)
    for spectrum, matches in zip(spectra, answers):
        print(spectrum.source + (f"  (##NAMES={spectrum.name})" if spectrum.name else ""))
        for rank, match in enumerate(matches, 1):
            print(f"  {rank:>2}  {match.similarity:.4f}  {match.label}  [{match.reference}]")


def _info(args) -> None:
    from collections import Counter

    from .reference import ReferenceLibrary

    library = ReferenceLibrary.load(args.library)
    grid = library.wavenumbers
    print(f"{args.library}: {len(library)} references of {len(library.classes)} classes")
    print(f"grid: {len(grid)} points, {grid[0]:g}-{grid[-1]:g} {library.axis}")
    print(f"network: {library.model.topology.name}, embedding {library.model.embedding_dim}; "
          f"preprocessing {library.preprocessing.to_dict()}")
    if library.info:
        print(f"built: {library.info}")
    if args.classes:
        for label, count in sorted(Counter(label for label, _ in library.references).items()):
            print(f"  {label}\t{count}")


COMMANDS = {"build": _build, "add": _add, "remove": _remove, "query": _query, "info": _info}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
