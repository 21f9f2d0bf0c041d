"""A whole run: data set, recipe, plan, cached execution, then tables, scores, figures and config."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from .. import __version__
from ..data import ImageSet, SpectraSet, load_dataset
from ..errors import UserError
from ..hardware import cpu_bf16_support, device_name, resolve_device, resolve_precision
from ..protocols import PROTOCOLS, RunOptions
from ..protocols.base import resolve_jobs
from ..provenance import versions
from ..storage import cache_root, check_cache_writable, check_writable_folder
from .cache import ResultCache
from .cluster import check_scheduler
from .figures import write_figures
from .runner import check_backend, execute, split_cached
from .tables import write_config, write_report


def run_experiment(recipe, options: RunOptions, on_task_done=None) -> Path:
    """Run (or re-fuse) a recipe and write its outputs; returns the output directory."""
    started = time.time()
    device = resolve_device(options.device, require=not options.dry_run)
    protocol = PROTOCOLS.get(recipe.protocol)
    choice = options.precision or recipe.precision
    precision = resolve_precision(choice, device, require=not options.dry_run,
                                  dims=1 if protocol.data_kind is SpectraSet else 2)
    pretrained = resolve_precision(choice, device, require=not options.dry_run, pretrained=True)
    options = replace(options, device=device, precision=precision, jobs=resolve_jobs(options.jobs, device))
    recipe = recipe.with_precision(precision, pretrained)  # what results depend on is the resolved precision
    if device == "cuda" and not options.dry_run and options.jobs > torch.cuda.device_count():
        options.log(f"--jobs {options.jobs} on {torch.cuda.device_count()} GPU(s): some GPUs run several jobs at once")
    dataset = load_dataset(options.dataset or protocol.default_dataset, options.data_root, options.seed)
    for note in dataset.notes if isinstance(dataset, ImageSet) else ():  # spectra loaders log their own
        options.log(f"{dataset.name}: {note}")
    out = Path(options.out) if options.out else Path("results") / dataset.name / recipe.name
    protocol.check_data(recipe, dataset)
    plan = protocol.plan(recipe, dataset, options)
    if options.dry_run:
        print(protocol.describe(plan))
        extra = f" (pretrained networks {pretrained})" if pretrained != precision and recipe.protocol == "ensemble" else ""
        print(f"device {device}, precision {precision}{extra}, {options.jobs} job(s) at once")
        return out
    check_writable_folder(out, "--out")  # before any work, not after it
    check_cache_writable()
    check_backend(options.backend)
    cache = ResultCache(cache_root() / protocol.cache_folder)
    results, pending = split_cached(plan.tasks, cache)
    if options.fuse_only and pending:
        raise UserError(f"--fuse-only: {len(pending)} of {len(plan.tasks)} tasks are not in the cache "
                        f"({cache.root}), e.g. {pending[0].label}: run without --fuse-only to compute them")
    if pending and options.scheduler:
        check_scheduler(options.backend, options.scheduler)  # before the work of preparing the tasks
    if pending:
        pending = protocol.prepare(plan, pending)

    def done(task, result, from_cache: bool) -> None:
        options.log(protocol.task_line(task, result, from_cache))
        if on_task_done:
            on_task_done(task, result, from_cache)

    results = execute(plan.tasks, pending, results, cache, jobs=options.jobs, backend=options.backend,
                      scheduler=options.scheduler, on_done=done, progress=options.progress)
    report = protocol.report(plan, results)
    write_report(out, report)
    figures = write_figures(out / "figures", report.figures, warn=options.log)
    device = report.config.get("device") or options.device
    write_config(out, {
        "recipe": recipe.to_dict(),
        "dataset": {"name": dataset.name, "data_root": options.data_root, "items": len(dataset),
                    "classes": list(dataset.class_names), "protocol": dataset.protocol,
                    "fingerprint": dataset.fingerprint, **({"notes": list(dataset.notes)} if dataset.notes else {}),
                    **report.config.pop("dataset", {})},
        **report.config,
        "seed": options.seed, "device": device, "device_name": device_name(device), "precision": precision,
        "cpu_bf16": cpu_bf16_support(), "jobs": options.jobs,
        "backend": options.backend, "figures": [p.name for p in figures], "versions": versions(),
        "dissim": __version__, "command": options.command, "wall_seconds": round(time.time() - started, 1),
    })
    return out
