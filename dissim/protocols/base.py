"""What every protocol shares: the run options, the protocol registry, task seeds and threads.

A protocol is an object with

- ``name``, ``sections`` (the recipe's TOML tables besides ``protocol`` and ``description``),
  ``default_dataset`` and ``flags`` (the command-line overrides that apply to it);
- ``parse(doc, path, profile)`` -> its recipe; ``apply_flags(recipe, flags)`` -> the recipe changed
  by the command line (validated like the file);
- ``plan(recipe, dataset, options)`` -> a plan whose ``tasks`` each have ``key``, ``label`` and
  ``run() -> dict of arrays`` (picklable: they run in joblib workers and are cached by key);
- ``describe(plan)`` (the dry run), ``prepare(plan, tasks)`` (inputs for the tasks to compute),
  ``task_line(task, result, cached)`` (one log line) and ``report(plan, results)`` -> a
  :class:`~dissim.eval.report.Report`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..registry import Registry
from ..storage import stable_hash


def _register_builtins() -> None:
    from . import ensemble, oneshot, openset, verify  # noqa: F401  (they register themselves)


PROTOCOLS = Registry("protocol", populate=_register_builtins)


def get_protocol(name: str):
    return PROTOCOLS.get(name)


def list_protocols() -> list[str]:
    return PROTOCOLS.names()


@dataclass
class RunOptions:
    """How to run a recipe (everything but the recipe itself)."""

    dataset: str | None = None  # None: the protocol's default data set
    data_root: str | None = None
    seed: int = 1
    device: str = "auto"
    jobs: int | None = None  # tasks at once; None: resolve_jobs picks
    threads: int | None = None  # torch/BLAS threads per task; None: the protocol's default (results depend on it)
    backend: str = "loky"
    scheduler: str | None = None
    out: Path | None = None
    fuse_only: bool = False
    dry_run: bool = False
    progress: bool = True
    command: list[str] = field(default_factory=list)
    log = staticmethod(lambda message: print(message, file=sys.stderr, flush=True))


def task_seed(*identity) -> int:
    """A task's seed from the run's seed and the task's identity (not from scheduling order)."""
    return int(stable_hash(list(identity))[:8], 16)


DEFAULT_THREADS = 1  # per task; fixed, so that results do not depend on --jobs (float sums depend on threads)
MAX_AUTO_JOBS = 4  # parallel trainings a CPU run starts by itself (each holds its own network and data)


def resolve_jobs(jobs: int | None, device: str) -> int:
    """``jobs``, or by default: one task per GPU on CUDA, one per CPU core (at most MAX_AUTO_JOBS) elsewhere."""
    if jobs:
        return jobs
    if device.startswith("cuda"):
        return 1 if ":" in device else max(1, torch.cuda.device_count())
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run with ``threads`` torch CPU threads (unchanged when None), restored afterwards."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
