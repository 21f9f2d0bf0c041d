"""One held-out class and one model family: train on the known classes, predict every test spectrum
(a known class, or unknown)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from ...eval.openset import OpenSetCNN, OpenSetSiamese
from ..base import SplitTask, timing, torch_threads
from ..keys import index_digest, task_key
from .settings import OpenSetSettings

UNKNOWN = -1  # the code of "unknown" in the stored predictions
CLOSED_SET = "cnn"  # the family of the closed-set CNN, whose one training serves all its rows
KEY_VERSION = 3  # raised when a task's result changes for the same key fields


@dataclass(frozen=True, kw_only=True)
class OpenSetTask(SplitTask):
    """``family`` "siamese-contrastive-ce", "siamese-contrastive" or :data:`CLOSED_SET` (which serves the
    closed-set, the maximum-softmax and the energy rows from one training)."""

    held_out: int  # class code held out as unknown
    family: str
    settings: OpenSetSettings
    label_text: str
    inputs: np.ndarray | None = None  # preprocessed spectra of the whole data set (set by prepare)
    gate: np.ndarray | None = None

    @classmethod
    def planned(cls, data, held_out: int, family: str, seed: int, train, test, settings: OpenSetSettings, topology,
                threads: int, **fields) -> "OpenSetTask":
        """``family`` trained on the ``train`` items of ``data``, tested on ``test`` with class ``held_out``
        unknown; ``topology``: its sub-network; ``fields``: where it runs and the input gate."""
        key = task_key(data, seed, threads, v=KEY_VERSION, protocol="openset", held_out=held_out, family=family,
                       train=index_digest(train), test=index_digest(test), topology=topology.layers,
                       background=settings.background,
                       settings={k: v for k, v in vars(settings).items() if k not in ("methods",)})
        return cls(held_out=held_out, family=family, key=key, seed=seed, labels=data.labels, train_index=train,
                   test_index=test, settings=settings, threads=threads,
                   label_text=f"{family} without {data.class_names[held_out]}", **fields)

    @property
    def label(self) -> str:
        return self.label_text

    @property
    def closed_set(self) -> bool:
        """Whether the task trains the closed-set CNN (else an open-set Siamese network)."""
        return self.family == CLOSED_SET

    def _model(self):
        s = self.settings
        common = dict(topology=s.topology, epochs=s.cnn_epochs if self.closed_set else s.epochs,
                      batch_size=s.batch_size, lr=s.lr, input_gate=self.gate,
                      false_rejection=s.false_rejection, device=self.device, precision=s.precision,
                      random_state=self.seed,
                      verbose=self.progress)
        if self.closed_set:
            return OpenSetCNN(reject=True, **common)
        return OpenSetSiamese(loss=self.family.removeprefix("siamese-"), margin=s.margin or None, alpha1=s.alpha1,
                              alpha2=s.alpha2, ce_margin=s.ce_margin, ce_weight=s.ce_weight,
                              negatives_per_positive=s.negatives_per_positive, **common)

    @staticmethod
    def _codes(model, predicted) -> np.ndarray:
        return np.array([UNKNOWN if p == model.unknown_label else int(p) for p in predicted])

    def log_line(self, result: dict, cached: bool) -> str:
        """Each model's known-class accuracy and unknown detection on the test items."""
        y = np.asarray(self.labels)[self.test_index]
        parts = []
        for key in (k for k in result if k.startswith("pred_")):
            predicted = result[key]
            known = y != self.held_out
            parts.append(f"{key[5:]} known {100 * np.mean(predicted[known] == y[known]):.1f}% unknown "
                         f"{100 * np.mean(predicted[~known] == -1):.1f}%")
        took = timing(result["seconds"], cached)
        return f"{self.label}: {'; '.join(parts)} ({took})"

    def run(self) -> dict[str, np.ndarray]:
        x, y = self.inputs, np.asarray(self.labels)
        start = time.perf_counter()
        with torch_threads(self.threads):
            model = self._model().fit(x[self.train_index], y[self.train_index])
            scores = model.class_scores(x[self.test_index])
            open_set = model.predict(x[self.test_index])
        codes = self._codes(model, open_set)
        result = {"history": np.array(json.dumps(model.history_.to_dict())), "threshold": np.float64(model.threshold_),
                  "seconds": np.float64(time.perf_counter() - start)}
        if self.closed_set:
            result["pred_closed-set-cnn"] = model.classes_[np.argmax(scores, axis=1)].astype(np.int64)
            result["pred_closed-set-cnn-max-softmax"] = codes
            model.set_params(rejection_score="energy")  # the same network, rejecting by its negative energy
            result["pred_closed-set-cnn-energy"] = self._codes(model, model.predict(x[self.test_index]))
            result["threshold_energy"] = np.float64(model.threshold_)
        else:
            result[f"pred_{self.family}"] = codes
        return result
