"""The one-shot run behind ``python -m dissim.pipelines.run --pipeline oneshot`` (``kind = "oneshot"``).

For each random class partition (:mod:`dissim.oneshot.protocol`) and each method of the recipe,
the matcher learns on the training classes (validation classes for the Siamese network's early
stopping), then every query spectrum of the test classes takes the class of its most similar
reference. All methods share the partitions and the references. Each (partition, method) result
is cached under ``$DISSIM_CACHE/oneshot/`` keyed by everything that determines it, so an
interrupted run resumes where it stopped. Outputs: ``table.md``, ``table.csv`` (accuracy %),
``table-macro-f1.csv``, ``config.json`` and ``figures/``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data import load_dataset
from ..data.spectra import SpectraSet
from ..data.spectral import SpectralPreprocessing
from ..errors import UserError
from ..nets import get_topology
from ..provenance import device_name, resolve_device, versions
from ..storage import atomic_write, atomic_write_text, cache_root, stable_hash
from .matchers import (
    LMNNMatcher,
    NearestCosine,
    NearestL2,
    SiameseMatcher,
    parse_method,
)
from .protocol import Partition, make_partitions, score_predictions
from .recipe import OneShotRecipe, OneShotSettings, check_settings, load_oneshot_recipe
from .table import MethodRow, comparison_lines, rows_csv, rows_markdown
from .train import TrainSettings

CACHE_VERSION = 1
FIGURE_PARTITION = 1
# flags of the dissimilarity-space pipelines that mean nothing here: (attribute, flag, default)
_UNUSED_FLAGS = (("profile", "--profile", None), ("losses", "--losses", None), ("optimizers", "--optimizers", None),
                 ("spaces", "--spaces", None), ("prototypes", "--prototypes", None), ("folds", "--folds", None),
                 ("input_size", "--input-size", None), ("share_network", "--share-network", None),
                 ("scheduler", "--scheduler", None), ("fuse_only", "--fuse-only", False))


@dataclass
class OneShotOptions:
    dataset: str = "rruff-ir"
    data_root: str | None = None
    seed: int = 1
    device: str = "auto"
    out: Path | None = None
    dry_run: bool = False
    progress: bool = False
    command: list[str] = field(default_factory=list)
    log = staticmethod(lambda message: print(message, file=sys.stderr, flush=True))


@dataclass
class Outcome:
    """One method on one partition."""

    accuracy: float
    macro_f1: float
    predicted: np.ndarray
    seconds: float
    cached: bool = False
    history: dict | None = None
    embeddings: np.ndarray | None = None  # Siamese f(x) of the partition's test spectra (figure partition only)


DEFAULT_DATASET = "rruff-ir"  # without --dataset, a one-shot recipe runs on the embedded RRUFF spectra


def run_oneshot(path: Path, args, argv: list[str]) -> Path | None:
    """Entry from the CLI: the recipe at ``path`` with the parsed ``args`` of command line ``argv``."""
    recipe = load_oneshot_recipe(path)
    recipe = replace(recipe, settings=apply_flags(recipe.settings, args))
    given = any(a == "--dataset" or a.startswith("--dataset=") for a in argv)
    options = OneShotOptions(dataset=args.dataset if given else DEFAULT_DATASET, data_root=args.data_root,
                             seed=args.seed, device=args.device, out=args.out, dry_run=args.dry_run,
                             progress=not args.no_progress and sys.stderr.isatty(),
                             command=["python -m dissim.pipelines.run", *argv])
    return run_oneshot_recipe(recipe, options)


def apply_flags(settings: OneShotSettings, args) -> OneShotSettings:
    """The recipe settings with --iterations (epochs), --batch-size, --threads, --topologies applied."""
    for attribute, flag, default in _UNUSED_FLAGS:
        if getattr(args, attribute, default) not in (default, None, False):
            raise UserError(f"{flag} does not apply to one-shot recipes; their settings are in the recipe's "
                            "[settings] (copy pipelines/oneshot.toml and pass --pipeline FILE)")
    if getattr(args, "jobs", 1) not in (1, None):
        raise UserError("--jobs does not apply to one-shot recipes (they run in one process); drop it")
    if getattr(args, "backend", "loky") not in ("loky", None):
        raise UserError("--backend does not apply to one-shot recipes (they run in one process); drop it")
    changes = {}
    if getattr(args, "iterations", None) is not None:
        changes["epochs"] = args.iterations
    if getattr(args, "batch_size", None) is not None:
        changes["batch_size"] = args.batch_size
    if getattr(args, "threads", None) is not None:
        changes["threads"] = args.threads
    if getattr(args, "topologies", None):
        names = [t.strip() for t in args.topologies.split(",") if t.strip()]
        if len(names) != 1:
            raise UserError(f"--topologies {args.topologies!r}: a one-shot run trains one twin network; give one")
        changes["topology"] = names[0]
    settings = check_settings(replace(settings, **changes), "one-shot settings (command line)")
    topology = get_topology(settings.topology)
    if topology.dims != 1:
        raise UserError(f"topology {settings.topology} is {topology.dims}-D; one-shot spectra need a dims = 1 table")
    return settings


def run_oneshot_recipe(recipe: OneShotRecipe, options: OneShotOptions) -> Path | None:
    """Run a one-shot recipe; returns the output folder (None for a dry run)."""
    started = time.time()
    s = recipe.settings
    data = load_dataset(options.dataset, options.data_root, options.seed)
    if not isinstance(data, SpectraSet):
        raise UserError(f"pipeline {recipe.name} matches spectra; {options.dataset} is not a spectral data set "
                        "(use --dataset rruff-ir)")
    try:
        partitions = make_partitions(data.labels, s.partitions, options.seed, fractions=s.fractions,
                                     min_per_class=s.min_spectra_per_class, distractors=s.distractors,
                                     dataset=data.name)
    except UserError as exc:
        if data.protocol and not data.protocol.startswith("one-shot"):
            raise UserError(f"{exc}; {data.name} is meant for {data.protocol}") from None
        raise
    topology = get_topology(s.topology)
    topology.layer_shapes(1, data.length)  # a too short spectrum for the twin is a UserError now, not later
    device = resolve_device(options.device)
    out = Path(options.out) if options.out else Path("results") / data.name / recipe.name
    if options.dry_run:
        print(describe(recipe, data, partitions, device))
        return None
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        with threadpool_limits(s.threads):
            outcomes = _run_all(recipe, options, data, partitions, device)
    finally:
        torch.set_num_threads(previous)
    _write_outputs(out, recipe, options, data, partitions, outcomes, device, started)
    return out


def describe(recipe: OneShotRecipe, data: SpectraSet, partitions: list[Partition], device: str) -> str:
    s = recipe.settings
    first = partitions[0].summary()
    lines = [f"pipeline {recipe.name} on {data.name}: {len(data)} spectra, {data.n_classes} classes, "
             f"{len(partitions)} partitions on {device}",
             f"per partition: {first['train_classes']} train / {first['validation_classes']} validation / "
             f"{first['test_classes']} test classes, {first['references']} references, ~{first['queries']} queries",
             f"methods: {', '.join(s.methods)}",
             f"Siamese: {s.topology}, {s.epochs} epochs (bootstrap iterations), batch {s.batch_size} pairs, lr {s.lr:g} "
             f"halved every {s.lr_halving_epochs}, patience {s.patience}; LMNN on {s.lmnn_pca} PCA components",
             f"trainings: {len(partitions) * sum(parse_method(m)[0] in ('siamese', 'lmnn') for m in s.methods)}"]
    return "\n".join(lines)


def _preprocessings(settings: OneShotSettings) -> dict[bool, SpectralPreprocessing]:
    return {als: SpectralPreprocessing(als=als, als_lam=settings.als_lam, als_p=settings.als_p) for als in (False, True)}


def _matcher(base: str, s: OneShotSettings, device: str, seed: int, progress: bool, desc: str):
    if base == "nn-l2":
        return NearestL2()
    if base == "nn-cosine":
        return NearestCosine()
    if base == "lmnn":
        return LMNNMatcher(pca_components=s.lmnn_pca, k=s.lmnn_k, max_iter=s.lmnn_max_iter, random_state=seed % 2**31)
    train = TrainSettings(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, lr_halving_epochs=s.lr_halving_epochs,
                          patience=s.patience, augment=s.augment, early_stopping=s.early_stopping)
    return SiameseMatcher(topology=s.topology, settings=train, device=device, seed=seed, progress=progress, desc=desc,
                          features=s.features)


def _cache_key(data: SpectraSet, partition: Partition, method: str, s: OneShotSettings, seed: int) -> str:
    base, als = parse_method(method)
    payload = {"v": CACHE_VERSION, "dissim": __version__, "data": data.fingerprint, "method": method, "seed": seed,
               "partition": partition.number,
               "index": stable_hash([partition.train_index.tolist(), partition.val_index.tolist(),
                                     partition.reference_index.tolist(), partition.query_index.tolist()])}
    if als:
        payload["als"] = [s.als_lam, s.als_p]
    if base == "lmnn":
        payload["lmnn"] = [s.lmnn_pca, s.lmnn_k, s.lmnn_max_iter]
    if base == "siamese":
        topology = get_topology(s.topology)
        payload["siamese"] = {"layers": topology.layers, "epochs": s.epochs, "batch": s.batch_size, "lr": s.lr,
                              "halving": s.lr_halving_epochs, "patience": s.patience, "augment": s.augment,
                              "features": s.features, "early_stopping": s.early_stopping,
                              "figure": partition.number == FIGURE_PARTITION}
    return stable_hash(payload)


def _load_cached(path: Path) -> Outcome | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            history = json.loads(str(z["history"])) if "history" in z.files else None
            return Outcome(float(z["accuracy"]), float(z["macro_f1"]), z["predicted"], float(z["seconds"]),
                           cached=True, history=history, embeddings=z["embeddings"] if "embeddings" in z.files else None)
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is recomputed


def _save_cached(path: Path, outcome: Outcome) -> None:
    arrays = {"accuracy": outcome.accuracy, "macro_f1": outcome.macro_f1, "predicted": outcome.predicted,
              "seconds": outcome.seconds}
    if outcome.history is not None:
        arrays["history"] = json.dumps(outcome.history)
    if outcome.embeddings is not None:
        arrays["embeddings"] = outcome.embeddings

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)


def _run_all(recipe, options, data, partitions, device) -> dict[str, list[Outcome]]:
    s = recipe.settings
    prep = _preprocessings(s)
    inputs: dict[bool, np.ndarray] = {}
    outcomes: dict[str, list[Outcome]] = {m: [] for m in s.methods}
    cache = cache_root() / "oneshot"
    for partition in partitions:
        y = data.labels
        truth = y[partition.query_index]
        for method in s.methods:
            base, als = parse_method(method)
            key = _cache_key(data, partition, method, s, options.seed)
            outcome = _load_cached(cache / f"{key}.npz")
            if outcome is None:
                if als not in inputs:
                    inputs[als] = prep[als](data.spectra)
                x = inputs[als]
                seed = int(stable_hash([options.seed, partition.number, method])[:8], 16)
                matcher = _matcher(base, s, device, seed, options.progress, f"{method} p{partition.number}")
                start = time.perf_counter()
                matcher.fit(x[partition.train_index], y[partition.train_index], x[partition.val_index],
                            y[partition.val_index], np.random.default_rng(seed))
                similarity = matcher.similarity(x[partition.query_index], x[partition.reference_index])
                predicted = y[partition.reference_index][np.argmax(similarity, axis=1)]
                accuracy, macro_f1 = score_predictions(truth, predicted)
                outcome = Outcome(accuracy, macro_f1, predicted, time.perf_counter() - start)
                if base == "siamese":
                    outcome.history = matcher.history_.to_dict()
                    if partition.number == FIGURE_PARTITION:
                        test = np.concatenate([partition.reference_index, partition.query_index])
                        outcome.embeddings = matcher.embed(x[test]).numpy()
                _save_cached(cache / f"{key}.npz", outcome)
            outcomes[method].append(outcome)
            extra = ""
            if outcome.history:
                h = outcome.history
                extra = f", {len(h['train_loss'])} epochs, best {h['best_epoch']}"
            options.log(f"partition {partition.number} {method:<14} accuracy {outcome.accuracy:6.2f}%  "
                        f"macro-F1 {outcome.macro_f1:6.2f}%  "
                        f"({'cached' if outcome.cached else f'{outcome.seconds:.0f} s'}{extra})")
    return outcomes


def _write_outputs(out: Path, recipe, options, data, partitions, outcomes, device, started) -> None:
    s = recipe.settings
    numbers = [p.number for p in partitions]
    accuracy = [MethodRow(m, tuple(o.accuracy for o in outcomes[m])) for m in s.methods]
    macro_f1 = [MethodRow(m, tuple(o.macro_f1 for o in outcomes[m])) for m in s.methods]
    summaries = [p.summary() for p in partitions]
    eligible = int(np.sum(data.class_counts() >= s.min_spectra_per_class))
    refs = summaries[0]["references"]
    distractor_text = (f"one reference per test class plus {refs - summaries[0]['test_classes']} distractor "
                       f"references (the single spectrum of every class with fewer than {s.min_spectra_per_class})"
                       if s.distractors else "one random reference spectrum per test class, no distractors")
    queries = [x["queries"] for x in summaries]
    header = [
        recipe.description,
        f"Data set: {data.name} ({len(data)} spectra, {data.n_classes} classes, {data.length} points "
        f"{data.wavenumbers[0]:g}-{data.wavenumbers[-1]:g} {data.axis}); {eligible} classes with "
        f">= {s.min_spectra_per_class} spectra are split into {summaries[0]['train_classes']} training / "
        f"{summaries[0]['validation_classes']} validation / {summaries[0]['test_classes']} test classes "
        f"(fractions {list(s.fractions)}) in each of {len(partitions)} random partitions.",
        f"Test: {distractor_text}; every other test spectrum ({min(queries)}-{max(queries)} per partition) is a "
        "query, classified by its most similar reference. All methods share the partitions and references.",
        f"Input: each spectrum min-max scaled to [0, 1]; -als rows first subtract an asymmetric-least-squares "
        f"baseline (pybaselines asls, lam={s.als_lam:g}, p={s.als_p:g}).",
        f"Siamese: {s.topology} twin (features {'σ(CNN(x))' if s.features == 'sigmoid' else 'CNN(x)'}), weighted L1 + sigmoid head, BCE, balanced bootstrap pairs, Adam lr {s.lr:g} "
        f"halved every {s.lr_halving_epochs} epochs, at most {s.epochs} epochs of batch {s.batch_size} pairs, "
        f"early stopping on validation pairs ({'nearest-neighbour accuracy' if s.early_stopping == 'ranking' else 'BCE'}, "
        f"patience {s.patience}){', augmented' if s.augment else ''}. "
        f"LMNN: metric-learn, k={s.lmnn_k}, {s.lmnn_max_iter} iterations at most, on {s.lmnn_pca} PCA components "
        "fitted on the training classes.",
        f"Seed {options.seed}; device {device}, {s.threads} thread(s); dissim {__version__}; command: "
        f"`{' '.join(options.command) or 'python -m dissim.pipelines.run --pipeline ' + recipe.name}`.",
    ]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "table.csv", rows_csv(accuracy, numbers))
    atomic_write_text(out / "table-macro-f1.csv", rows_csv(macro_f1, numbers))
    markdown = rows_markdown(f"{data.name} · {recipe.name}", header, accuracy, macro_f1, numbers,
                             comparison_lines(accuracy, macro_f1))
    atomic_write_text(out / "table.md", markdown)
    from .figures import write_figures

    figures = write_figures(out / "figures", data, partitions, outcomes, recipe.settings,
                            _preprocessings(s), FIGURE_PARTITION)
    config = {
        "recipe": recipe.to_dict(),
        "dataset": {"name": data.name, "data_root": options.data_root, "spectra": len(data),
                    "classes": data.n_classes, "points": data.length,
                    "axis": [float(data.wavenumbers[0]), float(data.wavenumbers[-1])], "axis_unit": data.axis,
                    "fingerprint": data.fingerprint, "protocol": data.protocol, "provenance": data.provenance,
                    "eligible_classes": eligible, "notes": data.notes},
        "partitions": [dict(x, test_classes_names=[data.class_names[c] for c in p.test_classes])
                       for x, p in zip(summaries, partitions)],
        "seed": options.seed, "device": device, "threads": s.threads,
        "device_name": device_name(device),
        "results": {m: {"accuracy": [o.accuracy for o in outcomes[m]], "macro_f1": [o.macro_f1 for o in outcomes[m]],
                        "seconds": [round(o.seconds, 2) for o in outcomes[m]],
                        "cached": [o.cached for o in outcomes[m]]} for m in s.methods},
        "siamese_training": {m: [{k: v for k, v in (o.history or {}).items() if k != "lr"} for o in outcomes[m]]
                             for m in s.methods if parse_method(m)[0] == "siamese"},
        "figures": figures,
        "versions": versions(),
        "command": options.command,
        "wall_seconds": round(time.time() - started, 1),
    }
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")


__all__ = ["OneShotOptions", "apply_flags", "describe", "run_oneshot", "run_oneshot_recipe"]
