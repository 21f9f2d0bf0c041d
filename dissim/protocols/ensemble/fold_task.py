"""What every task of an ensemble run holds: one fold of the data set and where its inputs are cached."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np


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

    def prepared(self, images_path: str, frozen_features) -> "FoldTask":
        """The task with its inputs' cache paths (``frozen_features(task)``: the path of the frozen
        network's features, computed once per input size, for the tasks that read them)."""
        return replace(self, images_path=images_path)
