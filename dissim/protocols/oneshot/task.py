"""One matcher on one class partition: learn on the training classes, match the test queries
against the references (one per test class for unseen classes, the training spectra for seen
ones); a classifier (the CNN) predicts the class of each query instead."""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from ...data.splits import Partition
from ...eval.matchers import create_matcher
from ...eval.metrics import accuracy_and_macro_f1
from ..base import torch_threads


@dataclass(frozen=True)
class MatchTask:
    """Everything a worker needs for one (partition, method) result, picklable."""

    method: str  # as the recipe names it, e.g. lmnn-als
    matcher: str  # the registered matcher, e.g. lmnn
    als: bool
    partition: Partition
    key: str
    params: dict = field(default_factory=dict)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    threads: int = 1
    keep_embeddings: bool = False  # the figure partition keeps the test spectra's features
    inputs: np.ndarray | None = None  # the preprocessed spectra of the whole data set (set by prepare)

    @property
    def label(self) -> str:
        return f"partition {self.partition.number} {self.method}"

    def run(self) -> dict[str, np.ndarray]:
        p, x, y = self.partition, self.inputs, self.labels
        start = time.perf_counter()
        with threadpool_limits(self.threads), torch_threads(self.threads):
            matcher = create_matcher(self.matcher, **self.params)
            fit_params = {}
            if "validation" in inspect.signature(matcher.fit).parameters and len(p.val_index):
                fit_params["validation"] = (x[p.val_index], y[p.val_index])
            matcher.fit(x[p.train_index], y[p.train_index], **fit_params)
            if hasattr(matcher, "predict"):  # a classifier of the training classes (seen-class protocol)
                predicted = matcher.predict(x[p.query_index])
            else:
                similarity = matcher.similarity(x[p.query_index], x[p.reference_index])
                predicted = y[p.reference_index][np.argmax(similarity, axis=1)]
            seconds = time.perf_counter() - start
            result = {"predicted": predicted, "seconds": np.float64(seconds)}
            result["accuracy"], result["macro_f1"] = map(np.float64, accuracy_and_macro_f1(y[p.query_index], predicted))
            history = getattr(matcher, "history_", None)
            if history is not None:
                result["history"] = np.array(json.dumps(history.to_dict()))
            if self.keep_embeddings:
                result["embeddings"] = matcher.transform(x[np.concatenate([p.reference_index, p.query_index])])
        return result
