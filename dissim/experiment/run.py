"""A whole run: data set, recipe, plan, cached execution, then tables, scores, figures and config."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from .._version import __version__
from ..data import load_dataset
from ..errors import UserError
from ..eval.report import count
from ..hardware import PRETRAINED_BF16_MIN_SIZE, RunCompute, cpu_bf16_support, device_name, resolve_device
from ..protocols import PROTOCOLS, RunOptions
from ..protocols.base import resolve_jobs
from ..provenance import machine, source_commit, versions
from ..storage import cache_root, check_cache_writable, check_writable_folder
from .cache import ResultCache
from .cluster import check_scheduler
from .figures import write_figures
from .folder import ResultsFolder, default_out, run_identity
from .mat_export import check_exports, write_exports
from .planning import time_estimate
from .runner import Ledger, check_backend, execute, split_cached
from .tables import write_config, write_report


def run_experiment(recipe, options: RunOptions, on_task_done=None) -> Path:
    """Run (or re-fuse) a recipe and write its outputs; returns the output directory."""
    started = time.time()
    protocol = PROTOCOLS.get(recipe.protocol)
    exports = check_exports(options.export, protocol)
    choice = options.precision or recipe.precision
    device = resolve_device(options.device, require=not options.dry_run)
    compute = RunCompute.resolve(device, choice, jobs=resolve_jobs(options.jobs, device), require=not options.dry_run,
                                 threads=options.threads or protocol.threads_per_task(recipe))
    options = replace(options, device=compute.device, jobs=compute.jobs, compute=compute)
    # a results folder belongs to the command as asked (precision "auto" included), so the same command on
    # another machine replaces its own earlier results instead of being refused
    asked = recipe.with_precision(choice)
    recipe = recipe.with_compute(compute, protocol.data_kind.dims)  # what results depend on: the resolved precisions
    if compute.device == "cuda" and not options.dry_run and options.jobs > torch.cuda.device_count():
        options.log(f"--jobs {options.jobs} on {torch.cuda.device_count()} GPU(s): some GPUs run several jobs at once")
    dataset = load_dataset(options.dataset or protocol.default_dataset, options.data_root, options.seed)
    for note in dataset.notes:
        options.log(f"{dataset.name}: {note}")
    out = Path(options.out) if options.out else default_out(dataset.name, options.data_root, recipe.name)
    protocol.check_data(recipe, dataset)
    plan = protocol.plan(recipe, dataset, options)
    dataset_config = {"name": dataset.name, "data_root": options.data_root, "items": len(dataset),
                      "classes": list(dataset.class_names), "protocol": dataset.protocol,
                      "fingerprint": dataset.fingerprint}
    folder = ResultsFolder(out, run_identity(dataset_config, asked.to_dict(), options.seed, __version__))
    if options.dry_run:
        print_plan(protocol, plan, options, folder)
        return out
    check_writable_folder(out, "--out")  # before any work, not after it
    folder.check(options.overwrite)
    check_cache_writable()
    check_backend(options.backend)
    cache = ResultCache(cache_root() / protocol.cache_folder)
    ledger = Ledger()
    results, pending = split_cached(plan.tasks, cache, ledger)
    if options.fuse_only and pending:
        results.update(_from_results_folder(protocol, plan, out, pending, cache))
        ledger.from_folder += [t.key for t in pending]
        pending = []
    if pending and options.scheduler:
        check_scheduler(options.backend, options.scheduler)  # before the work of preparing the tasks
    if pending:
        pending = protocol.prepare(plan, pending)

    def done(task, result, from_cache: bool) -> None:
        options.log(task.log_line(result, from_cache))
        if on_task_done:
            on_task_done(task, result, from_cache)

    results = execute(plan.tasks, pending, results, cache, jobs=options.jobs, backend=options.backend,
                      scheduler=options.scheduler, on_done=done, progress=options.progress, ledger=ledger)
    report = protocol.report(plan, results)
    folder.claim()
    _write_results(out, folder, report, exports, recipe, dataset, dataset_config, options, ledger, started)
    return out


def _write_results(out: Path, folder, report, exports, recipe, dataset, dataset_config: dict, options: RunOptions,
                   ledger, started: float) -> None:
    """The report's tables, score files, figures and config.json, each recorded in the results folder."""
    written = write_report(out, report, item_ids(dataset))
    written += write_exports(out, report, exports, item_ids(dataset))
    figures = write_figures(out / "figures", report.figures, warn=options.log)
    device = report.config.get("device") or options.device
    written.append(write_config(out, {
        "recipe": recipe.to_dict(),
        "dataset": {**dataset_config, **({"notes": list(dataset.notes)} if dataset.notes else {}),
                    **report.config.pop("dataset", {})},
        **report.config,
        "seed": options.seed, "device": device, "device_name": device_name(device), "precision": recipe.precision,
        "compute": options.compute.to_dict(), "cpu_bf16": cpu_bf16_support(), "jobs": options.jobs,
        "backend": options.backend, "figures": [p.name for p in figures], "versions": versions(),
        "dissim": __version__, "git": source_commit(), "machine": machine(), "command": options.command,
        "wall_seconds": round(time.time() - started, 1), "tasks": ledger.summary(),
    }))
    for path in [*written, *figures]:
        folder.record(path)
    folder.finish()


def print_plan(protocol, plan, options: RunOptions, folder: ResultsFolder) -> None:
    """The dry run: the protocol's plan, the device, the estimated time (:mod:`.planning`), where results go."""
    compute, precision = options.compute, plan.recipe.precision  # the plan's recipe holds the resolved precision
    if compute.device.startswith("cuda") and not torch.cuda.is_available():
        options.log(f"warning: --device {compute.device}: this machine has no CUDA device; planning for one that is "
                    "elsewhere (its time below is estimated, not measured)")
    print(protocol.describe(plan))
    workloads = getattr(protocol, "workloads", None)
    works = workloads(plan) if workloads else []
    extra = ""
    if any(w.pretrained for w in works):
        small, large = compute.pretrained_small, compute.pretrained_large
        if small != large:
            extra = (f" (ImageNet networks {small} below {PRETRAINED_BF16_MIN_SIZE} px, {large} from "
                     f"{PRETRAINED_BF16_MIN_SIZE} px on)")
        elif small != precision:
            extra = f" (ImageNet networks {small})"
    print(f"device {compute.device}, precision {precision}{extra}, {count(options.jobs, 'job')} at once")
    if workloads is None:
        print(f"time: not estimated for {protocol.name} recipes")
    else:
        for line in time_estimate(works, device=compute.device, precision_choice=compute.asked, jobs=options.jobs,
                                  threads=compute.threads, log=options.log):
            print(line)
    try:
        folder.check(options.overwrite)
        print(f"results would go to {folder.path}")
    except UserError as refusal:
        print(f"results would go to {folder.path}, but {refusal}")


def item_ids(dataset) -> list[str]:
    """Each item's id: its file path relative to the data root, its spectrum id, or (for a data set that
    names no items, such as digits) its position in the data set."""
    ids = list(getattr(dataset, "item_ids", None) or getattr(dataset, "item_names", None) or [])
    return ids if len(ids) == len(dataset) else [str(i) for i in range(len(dataset))]


def _from_results_folder(protocol, plan, out: Path, pending: list, cache: ResultCache) -> dict:
    """``--fuse-only``: the results of tasks the cache lacks, rebuilt from the results folder's own
    score files (which name the task each part came from); a UserError when they are not all there."""
    rebuild = getattr(protocol, "results_from_folder", None)
    recovered, missing = (rebuild(plan, out, pending) if rebuild else ({}, list(pending)))
    if missing and rebuild:
        raise UserError(f"--fuse-only: {len(missing)} of {len(plan.tasks)} tasks are not in the cache ({cache.root}) "
                        f"and {out / 'scores'} does not hold them either, e.g. {missing[0].label}: run without "
                        "--fuse-only to compute them")
    if missing:
        raise UserError(f"--fuse-only: {len(missing)} of {len(plan.tasks)} tasks are not in the cache ({cache.root}), "
                        f"e.g. {missing[0].label}, and {protocol.name} score files cannot stand in for it: run "
                        "without --fuse-only to compute them")
    return recovered
