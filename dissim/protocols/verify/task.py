"""One random split of a pair-verification run: train the verifier, score the test pairs, and the
raw-pixel cosine baseline on exactly the same pairs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ...eval.metrics import best_f1_threshold, pair_accuracy_jaccard
from ...eval.verifier import PairVerifier
from ...train.samplers import partner_pairs
from ..base import SplitTask, torch_threads
from ..keys import index_digest, preprocess_fields, task_key
from .settings import VerifySettings


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the raw pixels of a[i] and b[i] (0 for a blank image)."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(1) / np.maximum(norms, 1e-12), 0.0)


@dataclass(frozen=True, kw_only=True)
class VerifyTask(SplitTask):
    """Everything a worker needs for one split, picklable."""

    repeat: int  # 1-based
    val_index: np.ndarray
    settings: VerifySettings
    input_size: int
    keep_saliency: bool = False
    images_path: str = ""  # the preprocessed (N, C, S, S) uint8 array, memory-mapped

    @classmethod
    def planned(cls, dataset, repeat: int, seed: int, split: tuple, settings: VerifySettings, topology,
                input_size: int, threads: int, **fields) -> "VerifyTask":
        """Split ``repeat`` of ``dataset``: its seed, its (train, validation, test) items, the twin
        ``topology`` at side ``input_size``; the first keeps a saliency map. ``fields``: where it runs."""
        train, val, test = split
        key = task_key(dataset, seed, threads, protocol="verify", split=[index_digest(i) for i in split],
                       **preprocess_fields(input_size), topology={"layers": topology.layers, "dims": topology.dims},
                       settings={k: v for k, v in vars(settings).items() if k not in ("repeats", "topology")},
                       saliency=repeat == 1)
        return cls(repeat=repeat, key=key, seed=seed, labels=dataset.labels, train_index=train, val_index=val,
                   test_index=test, settings=settings, input_size=input_size, threads=threads,
                   keep_saliency=repeat == 1, **fields)

    @property
    def label(self) -> str:
        return f"split {self.repeat}"

    def test_pairs(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(the test pairs, the one-vs pairs), each as (first, second) positions in ``test_index``: drawn
        from the task's seed, the same for every method."""
        rng = np.random.default_rng([self.seed, 1])
        pairs = partner_pairs(len(self.test_index), self.settings.partners, rng)
        return pairs, partner_pairs(len(self.test_index), self.settings.test_partners, rng)

    def log_line(self, result: dict, cached: bool) -> str:
        """The verifier's accuracy, Jaccard index and threshold, and the raw-pixel baseline's accuracy."""
        acc, jac = pair_accuracy_jaccard(result["siamese_test"], result["test_targets"],
                                         float(result["siamese_threshold"]))
        base, _ = pair_accuracy_jaccard(result["baseline_test"], result["test_targets"],
                                        float(result["baseline_threshold"]))
        return (f"{self.label}: verifier accuracy {acc:.2f}% Jaccard {jac:.2f}% (threshold "
                f"{float(result['siamese_threshold']):.3f}); raw-pixel cosine accuracy {base:.2f}% "
                f"({'cached' if cached else 'computed'})")

    def run(self) -> dict[str, np.ndarray]:
        s, y = self.settings, np.asarray(self.labels)
        images = np.load(self.images_path, mmap_mode="r").transpose(0, 2, 3, 1)  # channels last
        test = np.asarray(images[self.test_index])
        (first, second), (one_first, one_second) = self.test_pairs()
        with torch_threads(self.threads):
            verifier = PairVerifier(
                topology=s.topology, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay,
                lr_gamma=s.lr_gamma, partners=s.partners, augment_p=s.augment_p, augment_paired=s.augment_paired,
                input_size=self.input_size, validation_fraction=0, device=self.device, precision=s.precision,
                random_state=self.seed,
                verbose=self.progress)
            val = np.asarray(images[self.val_index])
            verifier.fit(np.asarray(images[self.train_index]), y[self.train_index], validation=(val, y[self.val_index]))
            result = {"siamese_test": verifier.similarity(test[first], test[second]),
                      "siamese_one_vs": verifier.similarity(test[one_first], test[one_second]),
                      "siamese_threshold": np.float64(verifier.threshold_),
                      "history": np.array(json.dumps(verifier.history_.to_dict()))}
            if self.keep_saliency:
                same = np.flatnonzero(y[self.test_index][first] == y[self.test_index][second])
                pick = same[0] if len(same) else 0
                maps = verifier.saliency(test[first[pick]], test[second[pick]])
                result.update({"saliency_images": np.stack([test[first[pick]], test[second[pick]]]),
                               "saliency_maps": np.stack(maps[:2]), "saliency_score": np.float64(maps[2]),
                               "saliency_labels": y[self.test_index][[first[pick], second[pick]]]})
        val_first, val_second = verifier.validation_pairs_
        result["baseline_threshold"] = np.float64(best_f1_threshold(
            cosine(val[val_first], val[val_second]), y[self.val_index][val_first] == y[self.val_index][val_second]))
        result["baseline_test"] = cosine(test[first], test[second])
        result["baseline_one_vs"] = cosine(test[one_first], test[one_second])
        test_labels = y[self.test_index]
        result["test_targets"] = (test_labels[first] == test_labels[second]).astype(np.int8)
        result["one_vs_targets"] = (test_labels[one_first] == test_labels[one_second]).astype(np.int8)
        return result
