"""One trained matcher on one class partition: learn on the training classes, match the test queries
against the references (one per test class for unseen classes, the training spectra for seen
ones); a classifier (the CNN) predicts the class of each query instead. Matchers built on the
trained one (LMNN on a Siamese network's features) are answered by the same task, so the network
trains once for all of them."""

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
    """Everything a worker needs for one (partition, trained method) result, picklable.

    ``rows`` are the recipe's methods the task answers, each with its results under ``"<row>:<field>"``:
    ``method`` itself and the rows in ``built_on`` ({row: (matcher, params)}), whose matchers take the
    fitted one as ``embedding`` (``prefit``) and learn on top of it.
    """

    method: str  # the method that trains, as the recipe names it, e.g. siamese-als
    matcher: str  # its registered matcher, e.g. siamese
    als: bool
    partition: Partition
    key: str
    rows: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    built_on: dict = field(default_factory=dict)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    threads: int = 1
    small_classes: bool = False  # the trained matcher also learns from the partition's small_class_index items
    built_on_small_classes: bool = False  # and so do the matchers built on it
    keep_similarities: bool = False  # rows store their similarities (members of a fused row)
    keep_embeddings: bool = False  # the figure partition keeps the test spectra's features
    inputs: np.ndarray | None = None  # the preprocessed spectra of the whole data set (set by prepare)

    @property
    def label(self) -> str:
        return f"partition {self.partition.number} {self.method}"

    def training_index(self, small_classes: bool) -> np.ndarray:
        """The items a matcher learns from: the training classes' (and the small classes')."""
        p = self.partition
        return np.concatenate([p.train_index, p.small_class_index]) if small_classes else p.train_index

    def run(self) -> dict[str, np.ndarray]:
        p, x, y = self.partition, self.inputs, self.labels
        start = time.perf_counter()
        result = {}
        with threadpool_limits(self.threads), torch_threads(self.threads):
            matcher = create_matcher(self.matcher, **self.params)
            fit_params = {}
            if "validation" in inspect.signature(matcher.fit).parameters and len(p.val_index):
                fit_params["validation"] = (x[p.val_index], y[p.val_index])
            train = self.training_index(self.small_classes)
            matcher.fit(x[train], y[train], **fit_params)
            trained = time.perf_counter()
            for row in self.rows:
                row_start = time.perf_counter()
                if row == self.method:
                    row_matcher = matcher
                else:
                    name, params = self.built_on[row]
                    row_matcher = create_matcher(name, embedding=matcher, prefit=True, **params)
                    train = self.training_index(self.built_on_small_classes)
                    row_matcher.fit(x[train], y[train])
                result.update(self._answer(row, row_matcher))
                result[f"{row}:seconds"] = np.float64(trained - start + time.perf_counter() - row_start)
            history = getattr(matcher, "history_", None)
            if history is not None:
                result["history"] = np.array(json.dumps(history.to_dict()))
            if self.keep_embeddings:
                result["embeddings"] = matcher.transform(x[np.concatenate([p.reference_index, p.query_index])])
        result["seconds"] = np.float64(time.perf_counter() - start)
        return result

    def _answer(self, row: str, matcher) -> dict[str, np.ndarray]:
        p, x, y = self.partition, self.inputs, self.labels
        out = {}
        if hasattr(matcher, "predict"):  # a classifier of the training classes (seen-class protocol)
            predicted = matcher.predict(x[p.query_index])
        else:
            similarity = matcher.similarity(x[p.query_index], x[p.reference_index])
            predicted = y[p.reference_index][np.argmax(similarity, axis=1)]
            if self.keep_similarities:
                out[f"{row}:similarity"] = similarity
                out[f"{row}:reference_similarity"] = matcher.similarity(x[p.reference_index], x[p.reference_index])
        out[f"{row}:predicted"] = predicted
        accuracy, macro_f1 = accuracy_and_macro_f1(y[p.query_index], predicted)
        out[f"{row}:accuracy"], out[f"{row}:macro_f1"] = np.float64(accuracy), np.float64(macro_f1)
        return out


def row_outcome(result: dict, row: str) -> dict:
    """One row's fields of a task's result (with the task's training history and embeddings)."""
    prefix = f"{row}:"
    outcome = {key[len(prefix):]: value for key, value in result.items() if key.startswith(prefix)}
    for shared in ("history", "embeddings"):
        if shared in result:
            outcome[shared] = result[shared]
    return outcome
