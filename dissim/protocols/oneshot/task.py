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
from ...eval.matchers import MATCHERS, create_matcher
from ...eval.metrics import accuracy_and_macro_f1
from ...nets import get_topology
from ...storage import stable_hash
from ...train import augmentation_recipe, get_loss
from ..base import task_seed, timing, torch_threads
from ..keys import task_key
from .params import matcher_params, recipe_values, trains_on_small_classes
from .settings import FIGURE_PARTITION, OneShotSettings, is_augmented, parse_method, trains_network

KEY_VERSION = 4  # raised when a task's result changes for the same key fields


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

    @classmethod
    def planned(cls, data, partition: Partition, method: str, rows: tuple[str, ...], s: OneShotSettings,
                run_seed: int, threads: int, device: str, progress: bool, keep_similarities: bool) -> "MatchTask":
        """``method`` trained on ``partition`` of ``data``, answering ``rows`` (it and the rows built on
        its training), with the matchers' parameters from the recipe's settings ``s``."""
        base, als = parse_method(method)
        seed = task_seed(run_seed, partition.number, method)
        small = trains_on_small_classes(method, s)
        built_on = {row: (parse_method(row)[0], matcher_params(parse_method(row)[0], s, seed, device, False))
                    for row in rows if row != method}
        key = task_key(data, run_seed, threads, **_key_fields(partition, method, s, rows, keep_similarities))
        return cls(method=method, matcher=base, als=als, partition=partition, rows=tuple(rows), key=key,
                   params=matcher_params(base, s, seed, device, progress, augment=is_augmented(method, s),
                                         small_classes=small),
                   built_on=built_on, labels=data.labels, threads=threads, small_classes=small,
                   built_on_small_classes=s.small_classes == "all", keep_similarities=keep_similarities,
                   keep_embeddings=MATCHERS.get(base).is_siamese and partition.number == FIGURE_PARTITION
                   and s.classes == "unseen")

    @property
    def label(self) -> str:
        return f"partition {self.partition.number} {self.method}"

    def training_index(self, small_classes: bool) -> np.ndarray:
        """The items a matcher learns from: the training classes' (and the small classes')."""
        p = self.partition
        return np.concatenate([p.train_index, p.small_class_index]) if small_classes else p.train_index

    def log_line(self, result: dict, cached: bool) -> str:
        """One log line per row: accuracy and macro-F1, and the network's epochs where it trained one."""
        extra = ""
        if "history" in result:
            h = json.loads(str(result["history"]))
            extra = f", {len(h['train_loss'])} epochs, best {h['best_epoch']}"
        took = timing(result["seconds"], cached)
        return "\n".join(f"partition {self.partition.number} {row:<14} accuracy {float(result[row + ':accuracy']):6.2f}%  "
                         f"macro-F1 {float(result[row + ':macro_f1']):6.2f}%  ({took}{extra})" for row in self.rows)

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


def _key_fields(partition: Partition, method: str, s: OneShotSettings, rows: tuple[str, ...],
                keep_similarities: bool) -> dict:
    """What determines a task's result besides the fields every key holds."""
    base, als = parse_method(method)
    fields = {"v": KEY_VERSION, "method": method, "classes": s.classes, "partition": partition.number,
              "index": stable_hash([partition.train_index.tolist(), partition.val_index.tolist(),
                                    partition.reference_index.tolist(), partition.query_index.tolist()]),
              "rows": list(rows), "similarities": keep_similarities}
    if trains_on_small_classes(method, s) or any(trains_on_small_classes(r, s) for r in rows):
        fields["small_classes"] = [s.small_classes, partition.small_class_index.tolist()]
    if als:
        fields["als"] = [s.als_lam, s.als_p]
    cls = MATCHERS.get(base)
    metrics = [values for m in (method, *rows) if not trains_network(parse_method(m)[0])
               and (values := recipe_values(parse_method(m)[0], s))]  # the metrics learned (LMNN's settings)
    if metrics:
        fields["lmnn"] = list(metrics[0].values())
    values = recipe_values(base, s)
    if cls.trains_network:
        fields["network"] = {"layers": get_topology(s.topology).layers,
                             "epochs": values["epochs"], "batch": s.batch_size,
                             "lr": s.lr, "halving": s.lr_halving_epochs,
                             "patience": s.patience if cls.early_stops else None,  # the CNNs never stop early
                             "augment": list(augmentation_recipe(s.augment)) if is_augmented(method, s) else [],
                             "features": values.get("activation", "none"),
                             "networks": values["networks"],
                             "precision": s.precision,
                             "figure": partition.number == FIGURE_PARTITION}
    if "loss" in values:
        fields["siamese"] = {"early_stopping": s.early_stopping, "loss": s.loss,
                             "triplet_margin": s.triplet_margin if get_loss(s.loss).profile_options else None}
    return fields


def row_outcome(result: dict, row: str) -> dict:
    """One row's fields of a task's result (with the task's training history and embeddings)."""
    prefix = f"{row}:"
    outcome = {key[len(prefix):]: value for key, value in result.items() if key.startswith(prefix)}
    for shared in ("history", "embeddings"):
        if shared in result:
            outcome[shared] = result[shared]
    return outcome
