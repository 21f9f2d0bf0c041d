"""Task cache keys. A task's result is cached under a hash of everything it depends on: the fields
every key holds (the dissim version, the data set's fingerprint, the seed and the torch/BLAS
threads, on which float sums depend), and the task's own fields."""

from __future__ import annotations

import numpy as np

from .._version import __version__
from ..data.preprocess import PREPROCESS_VERSION
from ..storage import stable_hash


def task_key(data, seed: int, threads: int, **fields) -> str:
    """The cache key of a task on data set ``data``: the common fields and the task's ``fields``
    (order-independent: the hash sorts them)."""
    return stable_hash({"dissim": __version__, "data": data.fingerprint, "seed": seed, "threads": threads, **fields})


def index_digest(index) -> str:
    """A digest of item indices (a fold's or a split's items)."""
    return stable_hash(np.asarray(index).tolist())


def fold_fields(fold: int, train, test) -> dict:
    """The key fields of a fold: its number and the digests of its training and test items."""
    return {"fold": fold, "train": index_digest(train), "test": index_digest(test)}


def preprocess_fields(size: int) -> dict:
    """The key field of the preprocessed images a task reads, at side ``size``."""
    return {"preprocess": {"size": size, "version": PREPROCESS_VERSION}}
