"""What every task of an ensemble run holds: one fold of the data set and where its inputs are cached."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..base import timing
from ..keys import fold_fields, preprocess_fields, task_key


@dataclass(frozen=True, kw_only=True)
class FoldTask:
    """One picklable piece of work on one fold; ``run()`` returns the arrays the result cache keeps
    under ``key`` (which names everything the result depends on)."""

    fold: int  # 1-based
    key: str
    input_size: int  # the side of the preprocessed images the task reads
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    threads: int | None = None  # torch/BLAS threads in the worker
    images_path: str = ""  # set by the protocol's prepare(): the (N, C, S, S) uint8 array, memory-mapped
    hasc = False  # whether the task reads HASC mosaics (Siamese units follow the profile)
    tuned: ClassVar[tuple[str, ...]] = ()  # the rows whose result records the parameters inner cross-validation chose

    @classmethod
    def on_fold(cls, dataset, fold: int, run_seed: int, threads: int, input_size: int, key_fields: dict,
                **fields) -> "FoldTask":
        """The task on ``fold`` of ``dataset``, reading its images at side ``input_size``; its key holds
        the common fields (:func:`~dissim.protocols.keys.task_key`, with the run's seed), the fold's, the
        input's and ``key_fields`` (the rest of what determines its result); ``fields``: the task's own."""
        train, test = dataset.folds[fold - 1]
        key = task_key(dataset, run_seed, threads, **fold_fields(fold, train, test), **preprocess_fields(input_size),
                       **key_fields)
        return cls(fold=fold, key=key, input_size=input_size, labels=dataset.labels, train_index=train,
                   test_index=test, threads=threads, **fields)

    def log_line(self, result: dict, cached: bool) -> str:
        """The task's log line: its label, :meth:`summary` of its result and how long training took."""
        return f"{self.label}: {self.summary(result)} ({timing(result['seconds'][1], cached)})"

    def prepared(self, images_path: str, frozen_features) -> "FoldTask":
        """The task with its inputs' cache paths (``frozen_features(task)``: the path of the frozen
        network's features, computed once per input size, for the tasks that read them)."""
        return replace(self, images_path=images_path)
