"""Task cache keys name results in users' caches and in committed results folders' score files, so
the fields each key holds are pinned: a change to them is a change to every user's cache."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dissim._version import __version__
from dissim.data.preprocess import PREPROCESS_VERSION
from dissim.protocols.base import task_seed
from dissim.protocols.ensemble.baselines import BASELINES, TUNED_C, TUNED_GAMMA_FACTORS, BaselineTask
from dissim.protocols.keys import index_digest, task_key
from dissim.storage import stable_hash


def stub_data():
    """What planning reads of a data set: its name, fingerprint, labels and folds."""
    return SimpleNamespace(name="stub", fingerprint="f" * 16, labels=np.array([0, 1, 0, 1, 0]),
                           folds=[(np.array([0, 1, 3]), np.array([2, 4]))])


def test_every_key_holds_the_version_the_data_the_seed_and_the_threads():
    assert task_key(stub_data(), 7, 2, extra=[1]) == stable_hash(
        {"dissim": __version__, "data": "f" * 16, "seed": 7, "threads": 2, "extra": [1]})


def test_a_fold_task_key_holds_exactly_its_fields():
    data = stub_data()
    task = BaselineTask.planned(data, 1, run_seed=3, input_size=32, threads=1)
    train, test = data.folds[0]
    assert task.key == stable_hash({
        "dissim": __version__, "baselines": BASELINES, "grid": [TUNED_C, TUNED_GAMMA_FACTORS], "seed": 3,
        "data": data.fingerprint, "fold": 1, "train": index_digest(train), "test": index_digest(test),
        "preprocess": {"size": 32, "version": PREPROCESS_VERSION}, "threads": 1})
    assert task.seed == task_seed(3, "baselines", 1)
    assert (task.fold, task.input_size, task.threads) == (1, 32, 1)
    assert np.array_equal(task.train_index, train) and np.array_equal(task.test_index, test)
