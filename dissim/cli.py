"""The command line, one parser for everything: ``dissim run ...`` (also ``python -m dissim.pipelines.run``)
and ``dissim library ...`` (also ``python -m dissim.library``).

Errors a user can cause exit with status 2 and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import UserError
from .hardware import PRECISIONS

LISTABLE = ("datasets", "topologies", "pipelines", "protocols", "optimizers", "losses", "matchers")
MAX_SEED = 2**32 - 1
# Each protocol's default data set, as its class declares it (a test keeps this line in step with them).
DEFAULT_DATASETS = "digits (ensemble and verify recipes), rruff-ir (oneshot), coffee (openset)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, status 2
        raise UserError(f"{message} (see --help)")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="registered data set (see --list datasets); default: the recipe's "
                   f"protocol's: {DEFAULT_DATASETS}")
    p.add_argument("--data-root", help="path of the data (folder, zip, or .mat file for --dataset mat) for data "
                   "sets that are not embedded")
    p.add_argument("--pipeline", default="quick", help="recipe name (see --list pipelines) or path to a .toml")
    p.add_argument("--profile", help="take the profile (sizes, iterations, k) of this recipe, e.g. quick or paper")
    p.add_argument("--topologies", help="e.g. 1,3-5 (numbers mean sn1..sn8) or names/paths of layer tables")
    p.add_argument("--losses", help="comma list, e.g. bce,triplet (with --optimizers: their product)")
    p.add_argument("--optimizers", help="comma list: adam, dgrad, decaydgrad, a registered name or pkg.module:Factory")
    p.add_argument("--spaces", help="fully, deeper or fully,deeper")
    p.add_argument("--prototypes", help="k per class, e.g. 15,30")
    p.add_argument("--folds", help="which folds to run, e.g. 1,2 (default: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (one GPU per job) or cuda:N")
    p.add_argument("--precision", choices=PRECISIONS, help="how networks compute: auto (the recipe's default: bf16 "
                   "for image twins where the CPU has AMX/AVX-512-BF16 or the GPU has bf16; fp32 otherwise and "
                   "for spectra), fp32, bf16 or fp16 (CUDA)")
    p.add_argument("--jobs", type=int, help="tasks (trainings) run in parallel (default: one per CPU core, at most 4; "
                   "one per GPU on CUDA); results do not depend on it")
    p.add_argument("--threads", type=int, help="torch CPU threads per task (default 1; one-shot: the recipe's); results "
                   "are bit-identical only for the same thread count")
    p.add_argument("--backend", default="loky", choices=["loky", "dask", "ray"], help="joblib backend")
    p.add_argument("--scheduler", help="address of an existing dask scheduler / ray cluster")
    p.add_argument("--seed", type=int, default=1, help="seeds everything (default 1)")
    p.add_argument("--iterations", type=int, help="override the training iterations (one-shot: epochs)")
    p.add_argument("--batch-size", type=int, help="override the batch size (pairs or triplets)")
    p.add_argument("--input-size", type=int, help="override the profile's input size (raised to each topology's minimum)")
    p.add_argument("--share-network", choices=["yes", "no"], help="one network serves all k (yes) or one per k (no)")
    p.add_argument("--hasc", choices=["yes", "no"], help="Siamese inputs as HASC mosaics of six low-level maps (the "
                   "authors' TextureD option) or plain pixels")
    p.add_argument("--cnn-weights", help="weight files of pretrained networks (eCNN members and pretrained twins), "
                   "e.g. resnet50=/w/resnet50.pth,densenet201=/w/d201.pth (state dicts; never downloaded)")
    p.add_argument("--cnn-init", choices=["pretrained", "random"], help="start pretrained networks from their "
                   "ImageNet weights (default) or, explicitly, from random weights")
    p.add_argument("--out", type=Path, help="output folder (default results/<dataset>/<pipeline>/; for --dataset "
                   "folder results/folder-<root name>-<hash of its path>/<pipeline>/)")
    p.add_argument("--overwrite", action="store_true", help="replace another run's results in --out (another data "
                   "set, recipe, seed or dissim version); without it such a folder stops the run before any work")
    p.add_argument("--export", choices=["mat"], help="also write the scores for MATLAB: one .mat per member and "
                   "fusion row in scores/ (DecisionValue, TestLabels, TestIndex per fold; see docs/matlab.md)")
    p.add_argument("--dry-run", action="store_true", help="print the tasks, their count, cost and estimated time, "
                   "then stop")
    p.add_argument("--fuse-only", action="store_true", help="rebuild the tables from cached results, or where the "
                   "cache lacks them from --out's own scores/, no training")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--list", choices=LISTABLE, help="list what is available and exit")


def _add_library_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="library_command", required=True, parser_class=_Parser)
    b = sub.add_parser("build", help="train a Siamese matcher on a spectral data set and store its spectra as references")
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
    b.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    b.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto, fp32, bf16 or fp16 (CUDA)")
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


def build_parser(prog: str = "dissim", run_prog: str | None = None,
                 library_prog: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``prog`` is how the command was called (``dissim``, ``python -m dissim``), ``run_prog``
    and ``library_prog`` the names of the shims that call one subcommand directly."""
    root = _Parser(prog=prog, description="Classification in dissimilarity spaces built by Siamese networks.")
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run_arguments(sub.add_parser(
        "run", prog=run_prog or f"{prog} run", help="run a recipe (the default: digits, quick)",
        description="Run a recipe: train Siamese members or matchers, score them, fuse them into a table."))
    _add_library_arguments(sub.add_parser(
        "library", prog=library_prog or f"{prog} library", help="reference libraries of spectra",
        description="A library of reference spectra matched by a Siamese network; classes are added and "
                    "removed without retraining. Spectra files are RRUFF text files (##NAMES= header, then "
                    "wavenumber, value rows), resampled onto the library's grid."))
    return root


# -- run ---------------------------------------------------------------------------------------------
def parse_int_list(text: str, flag: str) -> list[int]:
    """'1,3-5' -> [1, 3, 4, 5]."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                values.extend(range(lo, hi + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise UserError(f"{flag} {text!r}: expected numbers like 1,3-5") from None
    return values


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_topologies(text: str) -> list[str]:
    names = []
    for part in _split(text):
        names += [f"sn{n}" for n in parse_int_list(part, "--topologies")] if part[0].isdigit() else [part]
    return names


def parse_weights(text: str) -> list[str]:
    """'resnet50=/w/r.pth,lite0=/w/l.pth' -> ['resnet50=/w/r.pth', 'lite0=/w/l.pth'], each path checked."""
    entries = _split(text)
    for entry in entries:
        name, _, path = entry.partition("=")
        if not name or not path:
            raise UserError(f"--cnn-weights {entry!r}: give NAME=PATH, e.g. resnet50=/w/resnet50.pth")
        if Path(path).expanduser().is_dir():
            raise UserError(f"--cnn-weights {entry!r}: {path} is a folder; give the weights file in it")
        if not Path(path).expanduser().is_file():
            raise UserError(f"--cnn-weights {entry!r}: file {path} does not exist")
    names = [entry.partition("=")[0] for entry in entries]
    _refuse_twice(names, "--cnn-weights", text)
    return entries


def _refuse_twice(values: list, flag: str, text: str) -> None:
    """A flag's list must not name a value twice (it would count twice in means and fusions)."""
    twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if twice is not None:
        raise UserError(f"{flag} {text}: {twice} is given twice; give each once")


def recipe_flags(args) -> dict:
    """The recipe-changing flags the user gave, as typed values (list flags without repeats)."""
    from .protocols.base import RECIPE_FLAGS

    given = {key: getattr(args, key) for key in RECIPE_FLAGS if getattr(args, key) is not None}
    converters = {"topologies": parse_topologies, "losses": _split, "optimizers": _split, "spaces": _split,
                  "prototypes": lambda t: parse_int_list(t, "--prototypes"),
                  "folds": lambda t: parse_int_list(t, "--folds"), "share_network": lambda t: t == "yes",
                  "hasc": lambda t: t == "yes", "cnn_weights": parse_weights}
    flags = {key: converters.get(key, lambda v: v)(value) for key, value in given.items()}
    for key, value in flags.items():
        if isinstance(value, list):
            _refuse_twice([str(v).lower() for v in value], "--" + key.replace("_", "-"), given[key])
            if not value:
                raise UserError(f"--{key.replace('_', '-')} {given[key]!r}: give at least one value")
    return flags


def _check_run_options(args) -> None:
    from .experiment.runner import check_execution

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be at least 1")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed {args.seed}: must lie in 0..{MAX_SEED}")
    check_execution(args.backend, args.scheduler, args.jobs)


def _run(args, argv: list[str], prog: str) -> None:
    from .experiment import load_recipe, run_experiment
    from .experiment.recipe import protocol_of
    from .protocols import PROTOCOLS, RunOptions
    from .settings import read_toml, recipe_path

    _check_run_options(args)
    path = recipe_path(args.pipeline)
    protocol_name = protocol_of(read_toml(path), str(path))
    protocol = PROTOCOLS.get(protocol_name)
    flags = recipe_flags(args)
    for key in flags:
        if key not in protocol.flags:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{flag} does not apply to {protocol_name} recipes; their settings are in the recipe "
                            f"(copy pipelines/{args.pipeline if path.parent.name == 'pipelines' else 'NAME'}.toml "
                            "and pass --pipeline FILE)")
    recipe = load_recipe(str(path), profile=flags.pop("profile", None))
    if flags:
        recipe = protocol.apply_flags(recipe, flags)
    options = RunOptions(dataset=args.dataset, data_root=args.data_root, seed=args.seed, device=args.device,
                         precision=args.precision,
                         jobs=args.jobs, threads=args.threads, backend=args.backend, scheduler=args.scheduler,
                         out=args.out, fuse_only=args.fuse_only, dry_run=args.dry_run, overwrite=args.overwrite,
                         export=(args.export,) if args.export else (),
                         progress=not args.no_progress and sys.stderr.isatty(),
                         command=[prog, *argv])
    out = run_experiment(recipe, options)
    if not args.dry_run:
        print(f"wrote {out / 'table.md'}")
        print((out / "table.md").read_text())


def topology_listing(size: int = 224) -> str:
    """Per topology: parameters, embedding, minimum input and DEEPER layer (images in colour at ``size``)."""
    from .nets import get_topology, list_topologies

    names = list_topologies()
    width = max([len("topology"), *map(len, names)])
    header = (f"{'topology':<{width}} {'parameters':>13} {'embedding':>9} {'min input':>9}  "
              f"{'DEEPER layer':<12} {'DEEPER output':<16} description")
    lines = [f"(images: 3 channels at {size}x{size}; 1-D tables: 1 channel, length 900)", header]
    for name in names:
        t = get_topology(name)
        channels, n = (3, size) if t.dims == 2 else (1, 900)
        try:
            minimum = "-"  # a table that takes no input of these channels still gets listed
            minimum = t.min_input_size(channels)
            params, emb = t.parameter_count(channels, n), t.embedding_dim(channels, n)
            deeper = "x".join(str(d) for d in t.deeper_shape(channels, n)) if t.deeper else "-"
        except UserError as error:  # a table that is invalid at this size still gets listed
            missing = "dissim[ecnn]" in str(error)  # a pretrained network whose package is not installed
            params, emb, deeper = 0, 0, "(needs dissim[ecnn])" if missing else "(invalid at this size)"
        lines.append(f"{name:<{width}} {params:>13,} {emb:>9} {minimum:>9}  "
                     f"{t.deeper or '-':<12} {deeper:<16} {t.description}")
    return "\n".join(lines)


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of words as lines whose columns start at the same place (the last column is free text)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return [" ".join([*(f"{word:<{w}}" for word, w in zip(row, widths)), row[-1]]) for row in rows]


def print_list(what: str) -> None:
    if what == "datasets":
        from .data import list_datasets
        lines = aligned(list_datasets())
    elif what == "pipelines":
        from .experiment import list_pipelines
        lines = aligned(list_pipelines())
    elif what == "topologies":
        lines = [topology_listing()]
    else:
        from .eval import MATCHERS
        from .optim import OPTIMIZERS
        from .protocols import PROTOCOLS
        from .train import LOSSES
        registry = {"optimizers": OPTIMIZERS, "losses": LOSSES, "matchers": MATCHERS, "protocols": PROTOCOLS}[what]
        lines = registry.names()
    print("\n".join(lines))


# -- library -----------------------------------------------------------------------------------------
def _read_spectra(paths: list[Path]):
    from .data.rruff import read_rruff_file
    from .data.spectra import find_spectrum_files

    files = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist: give RRUFF text files or folders of them")
        files += find_spectrum_files(path)
    return [read_rruff_file(f) for f in files]


def _library(args) -> None:
    from collections import Counter
    import numpy as np
    from .library import ReferenceLibrary, build_library

    command = args.library_command
    if command == "build":
        from .data import SpectraSet, load_dataset
        from .data.spectral import SpectralPreprocessing
        from .eval import SiameseMatcher
        from .train.params import check_flags

        if not 0 <= args.seed <= MAX_SEED:
            raise UserError(f"--seed {args.seed}: must lie in 0..{MAX_SEED}")
        matcher = SiameseMatcher(topology=args.topology, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 patience=args.patience, device=args.device, precision=args.precision,
                                 random_state=args.seed,
                                 verbose=not args.no_progress and sys.stderr.isatty())
        check_flags(matcher, {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr", "patience": "--patience"})
        data = load_dataset(args.dataset, args.data_root, args.seed)
        if not isinstance(data, SpectraSet):
            raise UserError(f"--dataset {args.dataset}: not a spectral data set (try rruff-ir)")
        library = build_library(data, matcher, preprocessing=SpectralPreprocessing(als=args.als),
                                references=not args.no_references)
        library.save(args.library)
        print(f"wrote {args.library}: {len(library)} references of {len(library.classes_)} classes (network trained "
              f"{library.info_['epochs_run']} epochs on {library.info_['trainable_classes']} classes)")
        return
    library = ReferenceLibrary.load(args.library)
    if command == "add":
        added = 0
        for spectrum in _read_spectra(args.paths):
            label = args.label or spectrum.name
            if not label:
                raise UserError(f"{spectrum.source}: no ##NAMES= line; give the class with --label")
            added += library.add(spectrum.values, label, ids=[spectrum.rruff_id or Path(spectrum.source).stem],
                                 wavenumbers=spectrum.wavenumbers)
        library.save(args.library)
        print(f"added {added} reference(s); {args.library} holds {len(library)} references of "
              f"{len(library.classes_)} classes")
    elif command == "remove":
        removed = library.remove(args.label)
        library.save(args.library)
        print(f"removed {removed} reference(s) of {args.label!r}; {len(library)} references of "
              f"{len(library.classes_)} classes remain")
    elif command == "query":
        spectra = _read_spectra(args.paths)
        grid = np.stack([library.to_grid(s.values, s.wavenumbers, where=s.source)[0] for s in spectra])
        for spectrum, matches in zip(spectra, library.query(grid, top_k=args.top_k)):
            print(spectrum.source + (f"  (##NAMES={spectrum.name})" if spectrum.name else ""))
            for rank, match in enumerate(matches, 1):
                print(f"  {rank:>2}  {match.similarity:.4f}  {match.label}  [{match.reference}]")
    elif command == "info":
        grid = np.asarray(library.wavenumbers)
        matcher = library.matcher_
        print(f"{args.library}: {len(library)} references of {len(library.classes_)} classes")
        print(f"grid: {len(grid)} points, {grid[0]:g}-{grid[-1]:g} {library.axis}")
        print(f"matcher: {type(matcher).__name__}"
              + (f", {matcher.net_.topology.name}, embedding {matcher.net_.embedding_dim}" if hasattr(matcher, "net_")
                 else "") + f"; preprocessing {library.preprocessing.to_dict() if library.preprocessing else None}")
        if getattr(library, "info_", None):
            print(f"built: {library.info_}")
        if args.classes:
            for label, count in sorted(Counter(library.labels_).items()):
                print(f"  {label}\t{count}")


def main(argv: list[str] | None = None, prog: str = "dissim", *, run_prog: str | None = None,
         library_prog: str | None = None) -> int:
    """``dissim run ...`` / ``dissim library ...``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(prog, run_prog, library_prog).parse_args(argv)
        if args.command == "library":
            _library(args)
        elif args.list:
            print_list(args.list)
        else:
            _run(args, argv[1:], run_prog or f"{prog} run")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished tasks are cached; run the same command again to resume", file=sys.stderr)
        return 130


def run_main(argv: list[str] | None = None) -> int:
    """``python -m dissim.pipelines.run ARGS`` = ``dissim run ARGS``."""
    return main(["run", *(sys.argv[1:] if argv is None else argv)], run_prog="python -m dissim.pipelines.run")


def library_main(argv: list[str] | None = None) -> int:
    """``python -m dissim.library ARGS`` = ``dissim library ARGS``."""
    return main(["library", *(sys.argv[1:] if argv is None else argv)], library_prog="python -m dissim.library")
