"""What every protocol shares: the run options, the protocol registry, task seeds and threads.

A protocol is an object with

- ``name``, ``sections`` (the recipe's TOML tables besides ``protocol`` and ``description``),
  ``default_dataset`` and ``flags`` (the command-line overrides that apply to it);
- ``parse(doc, path, profile)`` -> its recipe; ``apply_flags(recipe, flags)`` -> the recipe changed
  by the command line (validated like the file);
- ``plan(recipe, dataset, options)`` -> a plan whose ``tasks`` each have ``key`` (computed by the
  task, :mod:`.keys`), ``label``, ``run() -> dict of arrays`` (picklable: they run in joblib workers
  and are cached by key) and ``log_line(result, cached)`` (one log line);
- ``describe(plan)`` (the dry run), ``prepare(plan, tasks)`` (inputs for the tasks to compute),
  and ``report(plan, results)`` -> a :class:`~dissim.eval.report.Report`;
- optionally ``results_from_folder(plan, folder, tasks)`` -> (results by key, tasks not found): the
  results of tasks rebuilt from a results folder's own score files (``--fuse-only`` without the cache).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..hardware import RunCompute
from ..registry import Registry
from ..storage import stable_hash


# The command-line flags that change a recipe (dissim.cli reads them); a protocol's ``flags`` say which apply to it.
RECIPE_FLAGS = ("profile", "topologies", "losses", "optimizers", "spaces", "prototypes", "folds", "iterations",
                "batch_size", "input_size", "share_network", "hasc", "cnn_weights", "cnn_init")

PROTOCOLS = Registry("protocol")  # the built-in protocols register themselves when dissim.protocols imports them


def get_protocol(name: str):
    """The protocol registered as ``name`` (ensemble, oneshot, openset, verify)."""
    return PROTOCOLS.get(name)


def list_protocols() -> list[str]:
    """Names of the registered protocols."""
    return PROTOCOLS.names()


@dataclass(frozen=True, kw_only=True)
class SplitTask:
    """The fields of a task that trains on one split of a data set (protocols add their own)."""

    key: str
    seed: int
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    settings: object
    device: str = "cpu"
    threads: int = 1
    progress: bool = False


@dataclass
class RunOptions:
    """How to run a recipe (everything but the recipe itself)."""

    dataset: str | None = None  # None: the protocol's default data set
    data_root: str | None = None
    seed: int = 1
    device: str = "auto"
    precision: str | None = None  # as asked (None: the recipe's, auto by default); resolved in ``compute``
    compute: RunCompute | None = None  # the run's compute settings, resolved once when it starts
    jobs: int | None = None  # tasks at once; None: resolve_jobs picks
    threads: int | None = None  # torch/BLAS threads per task; None: the protocol's default (results depend on it)
    backend: str = "loky"
    scheduler: str | None = None
    out: Path | None = None
    fuse_only: bool = False
    dry_run: bool = False
    overwrite: bool = False  # replace another run's results in ``out`` (else a UserError before any work)
    export: tuple[str, ...] = ()  # extra score file formats: "mat" (dissim.experiment.mat_export)
    progress: bool = True
    command: list[str] = field(default_factory=list)

    @staticmethod
    def log(message: str) -> None:
        """Print a progress line on stderr."""
        print(message, file=sys.stderr, flush=True)


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


def timing(seconds, cached: bool) -> str:
    """How a task's result came, for its log line: "cached" or its seconds."""
    return "cached" if cached else f"{float(seconds):.0f} s"


class Protocol:
    """What the protocols share. A protocol declares itself in its class line:
    ``class P(Protocol, name=..., default_dataset=..., data_kind=..., data_needed=..., build_report=...)``
    (``cache_folder`` defaults to the name); its report is ``build_report(plan, results)``, the data
    kind it needs is checked by :meth:`check_data` before planning, and :meth:`timing` says how a
    task's result came."""

    def __init_subclass__(cls, build_report=None, **declared):
        super().__init_subclass__()
        for key, value in declared.items():
            setattr(cls, key, value)
        if "name" in declared:
            cls.cache_folder = declared.get("cache_folder", declared["name"])
        if build_report is not None:
            cls.build_report = staticmethod(build_report)

    exports: tuple[str, ...] = ()  # the score export formats (--export) its reports feed

    def check_data(self, recipe, data) -> None:
        if not isinstance(data, self.data_kind):
            needed, _, hint = self.data_needed.partition(" (")
            raise UserError(f"{data.name} is not {needed}: pipeline {recipe.name} ({self.name} protocol) needs one"
                            + (f"; {hint.rstrip(')')}" if hint else ""))

    def report(self, plan, results: dict):
        return self.build_report(plan, results)

    def threads_per_task(self, recipe) -> int:
        """The torch threads a task computes with unless --threads says otherwise (results depend on it)."""
        return DEFAULT_THREADS

