"""A whole run: data set, recipe, plan, cached execution, tables, scores, figures and config."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data import ImageSet, load_dataset
from ..data.preprocess import PREPROCESS_VERSION, preprocess_to_cache
from ..ensemble.cache import ResultCache
from ..ensemble.fusion import ZScore
from ..ensemble.members import Member, TrainingUnit, plan_members, plan_units, unit_of
from ..ensemble.runner import execute
from ..ensemble.task import UnitTask, score_key
from ..errors import UserError
from ..nets import get_topology
from ..provenance import device_name, resolve_device, versions
from ..storage import atomic_write, atomic_write_text, cache_root, stable_hash
from .figures import write_figures
from .recipe import Recipe
from .table import build_rows, table_csv, table_markdown


@dataclass
class RunOptions:
    """How to run a recipe (everything but the recipe itself)."""

    dataset: str = "digits"
    data_root: str | None = None
    seed: int = 1
    device: str = "auto"
    jobs: int = 1
    threads: int | None = None  # torch threads per training; default: CPU cores / jobs
    backend: str = "loky"
    scheduler: str | None = None
    out: Path | None = None
    fuse_only: bool = False
    dry_run: bool = False
    progress: bool = True
    command: list[str] = field(default_factory=list)
    log = staticmethod(lambda message: print(message, file=sys.stderr, flush=True))


def input_size_for(topology, profile, channels: int) -> int:
    """The profile's input size, raised to the topology's minimum where that is larger."""
    return max(profile.input_size, topology.min_input_size(channels))


@dataclass
class Plan:
    recipe: Recipe
    dataset: object
    members: list[Member]
    units: list[TrainingUnit]
    folds: list[int]
    tasks: list[UnitTask]
    sizes: dict[str, int]
    channels: int


def _index_digest(index: np.ndarray) -> str:
    return stable_hash(np.asarray(index).tolist())


def make_plan(recipe: Recipe, options: RunOptions, dataset=None) -> Plan:
    """Resolve members, units, folds and the (unit, fold) tasks with their cache keys."""
    dataset = dataset if dataset is not None else load_dataset(options.dataset, options.data_root, options.seed)
    if not isinstance(dataset, ImageSet):
        raise UserError(f"{dataset.name} is not an image data set: pipeline {recipe.name} builds image dissimilarity "
                        "spaces; for spectra use --pipeline oneshot")
    n_folds = len(dataset.folds)
    folds = list(recipe.folds) if recipe.folds else list(range(1, n_folds + 1))
    bad = [f for f in folds if not 1 <= f <= n_folds]
    if bad:
        raise UserError(f"--folds {bad}: {dataset.name} has folds 1..{n_folds}")
    kmax = max(recipe.profile.prototypes)
    for fold in folds:
        train = dataset.folds[fold - 1][0]
        counts = np.bincount(dataset.labels[train], minlength=dataset.n_classes)
        worst = int(np.argmin(counts))
        if counts[worst] < kmax:
            raise UserError(f"class {dataset.class_names[worst]!r} has {counts[worst]} training images in fold "
                            f"{fold}, fewer than the {kmax} prototypes per class asked (--prototypes): "
                            f"use k <= {counts[worst]}")
    channels = dataset.channels
    topologies = {name: get_topology(name) for name in recipe.topologies}
    sizes = {}
    for name, topology in topologies.items():
        if "deeper" in recipe.spaces and topology.deeper is None:
            raise UserError(f"topology {name} names no DEEPER layer: add deeper = \"<layer>\" or use --spaces fully")
        sizes[name] = input_size_for(topology, recipe.profile, channels)
    members = plan_members(recipe)
    units = plan_units(recipe)
    device = resolve_device(options.device)
    n_gpus = torch.cuda.device_count() if device == "cuda" else 0
    threads = options.threads or max(1, (os.cpu_count() or 1) // max(1, options.jobs))
    tasks = []
    for unit in units:
        topology = topologies[unit.topology]
        for fold in folds:
            train, test = dataset.folds[fold - 1]
            key_payload = {
                "dissim": __version__, "dataset": dataset.name, "data": dataset.fingerprint, "fold": fold,
                "train": _index_digest(train), "test": _index_digest(test),
                "preprocess": {"size": sizes[unit.topology], "version": PREPROCESS_VERSION},
                "topology": {"layers": topology.layers, "dims": topology.dims, "deeper": topology.deeper},
                "method": {"loss": unit.method.loss, "optimizer": unit.method.optimizer,
                           "options": unit.method.options},
                "ks": unit.ks, "profile": _keyed_profile(recipe.profile, unit), "seed": options.seed,
            }
            key = stable_hash(key_payload)
            task_device = device if n_gpus <= 1 else f"cuda:{len(tasks) % n_gpus}"
            tasks.append(UnitTask(
                unit=unit, fold=fold, key=key, seed=int(stable_hash([options.seed, unit.name, fold])[:8], 16),
                topology=topology, input_size=sizes[unit.topology],
                images_path="", labels=dataset.labels,
                train_index=train, test_index=test, profile=recipe.profile, spaces=("fully", "deeper")
                if topology.deeper else ("fully",), device=task_device, threads=threads,
                progress=options.progress and options.jobs == 1))
    return Plan(recipe, dataset, members, units, folds, tasks, sizes, channels)


def _keyed_profile(profile, unit) -> dict:
    """The profile settings that determine a unit's results (not, e.g., the list of all k)."""
    keyed = {"iterations": profile.iterations, "batch_size": profile.batch_size, "lr": profile.lr,
             "betas": profile.betas, "svm_C": profile.svm_C, "svm_gamma": profile.svm_gamma}
    if unit.method.loss == "triplet":
        keyed["triplet_margin"] = profile.triplet_margin
    return keyed


def describe_plan(plan: Plan) -> str:
    """The member list with its count and estimated cost (for --dry-run).

    Cost per fold of the network a member uses: training = iterations x batch x images per
    pair/triplet x 3 forward passes (forward + backward), embedding = every image and prototype once;
    FLOPs counted from the layer tables. Members that share a network share its cost.
    """
    p, n_images, n_classes = plan.recipe.profile, len(plan.dataset), plan.dataset.n_classes
    lines = [f"pipeline {plan.recipe.name} on {plan.dataset.name} ({n_images} images, {n_classes} classes, "
             f"{len(plan.folds)} folds): {len(plan.members)} members from {len(plan.units)} networks per fold, "
             f"{len(plan.tasks)} trainings ({p.iterations} iterations, batch {p.batch_size}, "
             f"{'one network shared across k' if p.share_network else 'a fresh network per k'})",
             f"{'member':<34} {'network':<28} {'input':>5} {'train TFLOP':>11} {'embed TFLOP':>11}"]
    total = 0.0
    for unit in plan.units:
        topology = get_topology(unit.topology)
        forward = topology.forward_flops(plan.channels, plan.sizes[unit.topology])
        arity = 3 if unit.method.loss == "triplet" else 2
        train = 3 * forward * arity * p.batch_size * p.iterations
        embed = forward * (n_images + sum(unit.ks) * n_classes)
        total += len(plan.folds) * (train + embed)
        for member in plan.members:
            if unit_of(member, plan.units) == unit:
                lines.append(f"{member.name:<34} {unit.name:<28} {plan.sizes[unit.topology]:>5} "
                             f"{train / 1e12:>11,.1f} {embed / 1e12:>11,.2f}")
    lines.append(f"total: {len(plan.members)} members, {len(plan.tasks)} trainings, about {total / 1e15:,.1f} PFLOP "
                 "(costs per fold; members of one network share it)")
    return "\n".join(lines)


def run_experiment(recipe: Recipe, options: RunOptions, on_task_done=None) -> Path:
    """Run (or re-fuse) a recipe and write its outputs; returns the output directory."""
    started = time.time()
    dataset = load_dataset(options.dataset, options.data_root, options.seed)
    out = Path(options.out) if options.out else Path("results") / dataset.name / recipe.name
    plan = make_plan(recipe, options, dataset)
    if options.dry_run:
        print(describe_plan(plan))
        return out
    cache = ResultCache(cache_root() / "members")
    if options.fuse_only:
        missing = [t.label for t in plan.tasks if t.key not in cache]
        if missing:
            raise UserError(f"--fuse-only: {len(missing)} of {len(plan.tasks)} trainings are not in the cache "
                            f"({cache.root}), e.g. {missing[0]}: run without --fuse-only to compute them")
    else:  # workers memory-map the cached preprocessed arrays rather than receive them
        paths = {size: str(preprocess_to_cache(dataset, size)) for size in set(plan.sizes.values())}
        plan.tasks = [replace(t, images_path=paths[t.input_size]) for t in plan.tasks]

    def done(task: UnitTask, result, from_cache: bool) -> None:
        seconds = float(result["seconds"][1])
        accs = []
        for k in task.unit.ks:
            for space in task.spaces:
                scores = result[score_key(space, k, "test")]
                accs.append(f"{space}-k{k} {100 * np.mean(np.argmax(scores, 1) == result['test_labels']):.2f}%")
        origin = "cached" if from_cache else f"{seconds:.0f} s"
        options.log(f"{task.label}: {', '.join(accs)} ({origin})")
        if on_task_done:
            on_task_done(task, result, from_cache)

    results = execute(plan.tasks, cache, jobs=options.jobs, backend=options.backend, scheduler=options.scheduler,
                      on_done=done, progress=options.progress)
    scores = _member_scores(plan, results)
    rows, grid = build_rows(recipe, plan.members, scores, plan.folds)
    header = [f"{recipe.description}".strip(),
              f"Data set: {dataset.name} ({len(dataset)} images, {dataset.n_classes} classes; {dataset.protocol}). "
              f"Folds: {', '.join(map(str, plan.folds))}.",
              f"Profile: {_profile_text(recipe.profile, plan.sizes)}.",
              f"Networks: {'one per (topology, method), shared across k' if recipe.profile.share_network else 'a freshly trained network per k (as the paper)'}.",
              f"Seed {options.seed}; dissim {__version__}; the command line, device and versions are in config.json."]
    title = f"{dataset.name} · {recipe.name}"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "table.csv", table_csv(rows, plan.folds))
    atomic_write_text(out / "table.md", table_markdown(title, [h for h in header if h], rows, grid, plan.folds, recipe))
    _write_scores(out / "scores", plan, scores)
    config = _config(recipe, options, plan, started)
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, sort_keys=False) + "\n")
    write_figures(out / "figures", plan, rows, scores, results)
    return out


def _member_scores(plan: Plan, results) -> dict:
    by_unit_fold = {(t.unit, t.fold): results[t.key] for t in plan.tasks}
    scores = {}
    for member in plan.members:
        unit = unit_of(member, plan.units)
        scores[member.name] = {}
        for fold in plan.folds:
            entry = by_unit_fold[(unit, fold)]
            key = score_key(member.space, member.k, "test")
            if key not in entry:
                raise UserError(f"{member.name}: its topology has no DEEPER layer to score")
            scores[member.name][fold] = (entry[score_key(member.space, member.k, "train")], entry[key],
                                         entry["test_labels"])
    return scores


def _write_scores(folder: Path, plan: Plan, scores) -> None:
    """Per member: test scores, labels and indices per fold, and the z-score statistics of its
    training scores (enough to re-fuse members outside dissim)."""
    for member in plan.members:
        arrays = {"class_names": np.array(plan.dataset.class_names)}
        for fold in plan.folds:
            train, test, labels = scores[member.name][fold]
            z = ZScore().fit(train)
            arrays.update({f"fold_{fold}_test_scores": test, f"fold_{fold}_test_labels": labels,
                           f"fold_{fold}_test_index": plan.dataset.folds[fold - 1][1],
                           f"fold_{fold}_train_mean": np.float64(z.mean_), f"fold_{fold}_train_std": np.float64(z.std_)})

        def write(tmp: Path, arrays=arrays) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)

        atomic_write(folder / f"{member.name}.npz", write)


def _profile_text(profile, sizes: dict[str, int]) -> str:
    inputs = ", ".join(f"{t} at {s}x{s}" for t, s in sizes.items())
    return (f"{inputs}; {profile.iterations} iterations, batch {profile.batch_size}, lr {profile.lr:g}, "
            f"betas {tuple(profile.betas)}, k per class {list(profile.prototypes)}, "
            f"SVC(C={profile.svm_C:g}, gamma={profile.svm_gamma:g})")


def _config(recipe: Recipe, options: RunOptions, plan: Plan, started: float) -> dict:
    device = plan.tasks[0].device if plan.tasks else resolve_device(options.device)
    return {
        "recipe": recipe.to_dict(),
        "dataset": {"name": plan.dataset.name, "data_root": options.data_root, "images": len(plan.dataset),
                    "classes": plan.dataset.class_names, "protocol": plan.dataset.protocol,
                    "fingerprint": plan.dataset.fingerprint, "folds": plan.folds},
        "input_sizes": plan.sizes,
        "seed": options.seed,
        "device": device,
        "device_name": device_name(device),
        "jobs": options.jobs, "threads_per_training": plan.tasks[0].threads if plan.tasks else None,
        "backend": options.backend,
        "members": [m.name for m in plan.members],
        "trainings": [{"unit": t.unit.name, "fold": t.fold, "key": t.key} for t in plan.tasks],
        "versions": versions(),
        "command": options.command,
        "wall_seconds": round(time.time() - started, 1),
    }
