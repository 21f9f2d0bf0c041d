"""Run a plan's tasks through joblib, reusing and filling the result cache.

A task is any picklable object with ``key``, ``label`` and ``run() -> dict of arrays`` (see
:mod:`dissim.protocols.base`).

Any joblib backend works: ``loky`` (local processes, the default), ``dask`` (an existing
dask.distributed scheduler, or a local cluster) and ``ray``. Each worker writes its own cache
entry as soon as its task ends, so a killed run loses only the tasks in flight.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import joblib
import numpy as np
from tqdm.auto import tqdm

from ..errors import UserError
from .cache import ResultCache
from .cluster import connect_timeout

Result = dict[str, np.ndarray]


@dataclass
class Ledger:
    """Where each task's result came from: computed by this invocation (with the seconds it took), read
    from the cache (with the seconds its computation took, where the entry records them), or read
    from the results folder's own files (``--fuse-only``)."""

    computed: dict[str, float] = field(default_factory=dict)
    cached: dict[str, float | None] = field(default_factory=dict)
    from_folder: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """What config.json records: task counts and seconds (summed over tasks; parallel tasks overlap)."""
        recorded = [s for s in self.cached.values() if s is not None]
        return {"total": len(self.computed) + len(self.cached) + len(self.from_folder),
                "computed": {"tasks": len(self.computed), "seconds": round(sum(self.computed.values()), 1)},
                "cached": {"tasks": len(self.cached), "compute_seconds": round(sum(recorded), 1),
                           "tasks_without_recorded_seconds": len(self.cached) - len(recorded)},
                "from_results_folder": {"tasks": len(self.from_folder)}}


def _run_and_store(task, cache_root: str) -> tuple[str, Result, float]:
    started = time.perf_counter()
    result = task.run()
    seconds = time.perf_counter() - started
    ResultCache(cache_root).save(task.key, result, seconds=seconds)
    return task.key, result, seconds


def check_backend(backend: str) -> None:
    """The joblib backend can be used here (its extra is installed); UserError naming the extra otherwise."""
    modules = {"loky": None, "dask": "dask.distributed", "ray": "ray.util.joblib"}
    if backend not in modules:
        raise UserError(f"unknown --backend {backend!r}: use loky, dask or ray")
    if modules[backend]:
        try:
            importlib.import_module(modules[backend])
        except ImportError:
            raise UserError(f"--backend {backend} needs the {backend} extra: pip install 'dissim[{backend}]'") from None


def check_execution(backend: str, scheduler: str | None, jobs: int | None) -> None:
    """Flags that would do nothing or overload this machine: ``--scheduler`` under loky, an empty one, and
    more than twice the CPU cores in ``--jobs`` without a cluster (every job trains its own network)."""
    if scheduler is not None and backend == "loky":
        raise UserError(f"--scheduler {scheduler}: applies to --backend dask or ray (loky runs on this machine); "
                        "add --backend dask or --backend ray, or drop --scheduler")
    if scheduler is not None and not scheduler.strip():
        raise UserError("--scheduler '': give the address of the dask scheduler or ray cluster")
    most = 2 * (os.cpu_count() or 1)
    if jobs is not None and jobs > most and not scheduler:
        raise UserError(f"--jobs {jobs}: this machine has {os.cpu_count()} CPU cores and every job trains its own "
                        f"network in its own memory; use at most {most} (or a cluster: --backend dask/ray "
                        "--scheduler ADDRESS)")


@contextlib.contextmanager
def backend_context(backend: str, jobs: int, scheduler: str | None) -> Iterator[None]:
    """joblib's parallel configuration for ``backend`` (connecting to a cluster when asked)."""
    if backend == "loky":
        with joblib.parallel_config(backend="loky", n_jobs=jobs):
            yield
    elif backend == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UserError("--backend dask needs the dask extra: pip install 'dissim[dask]'") from None
        with contextlib.ExitStack() as stack:
            # joblib's dask backend uses the current client, so it must stay open while the run lasts.
            if scheduler:
                stack.enter_context(Client(scheduler, timeout=connect_timeout()))
            else:
                cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                           dashboard_address=None))
                stack.enter_context(Client(cluster))
            with joblib.parallel_config(backend="dask", n_jobs=jobs, wait_for_workers_timeout=60):
                yield
    elif backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise UserError("--backend ray needs the ray extra: pip install 'dissim[ray]'") from None
        register_ray()
        if not ray.is_initialized():
            ray.init(address=scheduler)  # None starts a local ray
        with joblib.parallel_config(backend="ray", n_jobs=jobs):
            yield
    else:
        raise UserError(f"unknown --backend {backend!r}: use loky, dask or ray")


def split_cached(tasks: list, cache: ResultCache, ledger: Ledger | None = None) -> tuple[dict[str, Result], list]:
    """(results already in the cache by key, the tasks still to compute); ``ledger`` notes the cached ones."""
    results: dict[str, Result] = {}
    pending = []
    for task in tasks:
        entry = cache.load_entry(task.key)
        if entry is None:
            pending.append(task)
        else:
            results[task.key] = entry[0]
            if ledger is not None:
                ledger.cached[task.key] = entry[1]
    return results, pending


def execute(tasks: list, pending: list, results: dict[str, Result], cache: ResultCache, *, jobs: int = 1,
            backend: str = "loky", scheduler: str | None = None,
            on_done: Callable[[object, Result, bool], None] | None = None, progress: bool = True,
            ledger: Ledger | None = None) -> dict[str, Result]:
    """Results of all ``tasks`` by key: ``results`` holds the cached ones, ``pending`` are computed (and cached).

    ``on_done(task, result, from_cache)`` is called once per task, cached ones first, in plan order;
    ``ledger`` gets the seconds of each computed task.
    """
    pending_keys = {t.key for t in pending}
    for task in tasks:
        if task.key not in pending_keys and on_done:
            on_done(task, results[task.key], True)
    if not pending:
        return results
    by_key = {t.key: t for t in pending}
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc="tasks",
                                       disable=not progress, dynamic_ncols=True))
        jobs = min(jobs, len(pending)) if backend == "loky" else jobs
        if jobs == 1 and backend == "loky":  # in this process: simplest to debug, no pickling
            outputs = (_run_and_store(t, str(cache.root)) for t in pending)
        else:
            stack.enter_context(backend_context(backend, jobs, scheduler))
            # results as they finish (each is cached by its worker as it ends); ray's joblib backend returns a list
            outputs = joblib.Parallel(return_as="list" if backend == "ray" else "generator_unordered")(
                joblib.delayed(_run_and_store)(t, str(cache.root)) for t in pending)
        for key, result, seconds in outputs:
            results[key] = result
            if ledger is not None:
                ledger.computed[key] = seconds
            bar.update(1)
            if on_done:
                on_done(by_key[key], result, False)
    return results
