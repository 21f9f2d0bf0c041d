"""The score files of an ensemble run (``scores/``), and the task results rebuilt from them.

Per member, ``<member>.npz``: ``class_names`` and per fold k ``fold_k_test_scores`` (n_test, classes),
``fold_k_test_labels``, ``fold_k_test_index`` (positions in the data set; the writer adds
``fold_k_test_items``, the items' ids), ``fold_k_train_scores``, ``fold_k_train_labels`` and
``fold_k_train_index`` (the member's scores of its own training fold, which z-score it, and fuse a
group of members), their ``fold_k_train_mean`` and ``fold_k_train_std``, ``fold_k_inner_scores`` (the
training items' out-of-fold scores, which a learned fusion weighs members by), and ``fold_k_key``, the
cache key of the task the scores come from. Per baseline row, ``baseline-<name>.npz``: per fold ``fold_k_test_predicted``,
labels, index, ``fold_k_params`` (what its inner cross-validation chose), ``fold_k_seconds`` and
``fold_k_key``. ``trainings.npz``: per training ``<network>_fold_k_loss_history``, ``_seconds``,
``_attempts`` (Siamese networks) and ``_key``.

Together they hold every array the report reads, so ``--fuse-only`` rebuilds a table (in another
layout too) from a results folder alone: :func:`results_from_folder` returns, for each task whose
key the files name, the result its run computed (restricted to what the report uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...eval.fusion import ZScore
from .members import CnnMember, EnsemblePlan, score_key, unit_of

TRAININGS = "trainings"


def baseline_stem(name: str) -> str:
    return f"baseline-{name}"


def score_files(plan: EnsemblePlan, scores: dict, results: dict) -> dict[str, dict[str, np.ndarray]]:
    """Every score file of the run: members (``scores``: name -> fold -> :class:`MemberFold`),
    baselines and trainings, as {stem: arrays}."""
    keys = {(t.owner, t.fold): t.key for t in [*plan.trainings, *plan.cnn_trainings]}
    files = {}
    for member in plan.members:
        unit = member.network if isinstance(member, CnnMember) else unit_of(member, plan.units)
        arrays = {"class_names": np.array(plan.dataset.class_names)}
        for fold in plan.folds:
            part = scores[member.name][fold]
            z = ZScore().fit(part.train)
            train_index, test_index = plan.dataset.folds[fold - 1]
            arrays.update({f"fold_{fold}_test_scores": part.test, f"fold_{fold}_test_labels": part.labels,
                           f"fold_{fold}_test_index": test_index, f"fold_{fold}_train_scores": part.train,
                           f"fold_{fold}_train_index": train_index,
                           f"fold_{fold}_train_labels": np.asarray(plan.dataset.labels)[train_index],
                           f"fold_{fold}_train_mean": np.float64(z.mean_), f"fold_{fold}_train_std": np.float64(z.std_),
                           f"fold_{fold}_key": np.array(keys[(unit, fold)])})
            if part.inner is not None:  # what a learned fusion reads
                arrays[f"fold_{fold}_inner_scores"] = part.inner
        files[member.name] = arrays
    for task in plan.baselines:
        result = results[task.key]
        for name in task.names:
            arrays = files.setdefault(baseline_stem(name), {"class_names": np.array(plan.dataset.class_names)})
            arrays.update({f"fold_{task.fold}_test_predicted": result[f"{name}_predicted"],
                           f"fold_{task.fold}_test_labels": result["test_labels"],
                           f"fold_{task.fold}_test_index": task.test_index,
                           f"fold_{task.fold}_seconds": result["seconds"], f"fold_{task.fold}_key": np.array(task.key)})
            if f"{name}_params" in result:
                arrays[f"fold_{task.fold}_params"] = result[f"{name}_params"]
    trainings = {}
    for task in [*plan.trainings, *plan.cnn_trainings]:
        result, stem = results[task.key], task.file_stem
        trainings.update({f"{stem}_loss_history": result["loss_history"], f"{stem}_seconds": result["seconds"],
                          f"{stem}_key": np.array(task.key)})
        if "attempts" in result:
            trainings[f"{stem}_attempts"] = result["attempts"]
    if trainings:
        files[TRAININGS] = trainings
    return files


class _Files:
    """The score files of a folder, each read once; a file that is missing or unreadable reads as empty."""

    def __init__(self, folder: Path):
        self.folder, self.loaded = Path(folder) / "scores", {}

    def __call__(self, stem: str) -> dict[str, np.ndarray]:
        if stem not in self.loaded:
            try:
                with np.load(self.folder / f"{stem}.npz", allow_pickle=False) as archive:
                    self.loaded[stem] = {name: archive[name] for name in archive.files}
            except Exception:  # noqa: BLE001 (absent or damaged: the tasks it holds are missing)
                self.loaded[stem] = {}
        return self.loaded[stem]


def _matches(arrays: dict, prefix: str, key: str) -> bool:
    return f"{prefix}key" in arrays and str(arrays[f"{prefix}key"]) == key


def _rebuild(plan: EnsemblePlan, task, files: _Files) -> dict[str, np.ndarray] | None:
    """The result of ``task`` as its run computed it (the arrays the report reads), or None."""
    fold = f"fold_{task.fold}_"
    if task.key in {t.key for t in [*plan.trainings, *plan.cnn_trainings]}:
        stem = task.file_stem
        record = files(TRAININGS)
        if not _matches(record, f"{stem}_", task.key):
            return None
        result = {"loss_history": record[f"{stem}_loss_history"], "seconds": record[f"{stem}_seconds"],
                  "train_labels": np.asarray(task.labels)[task.train_index], "test_index": task.test_index}
        if f"{stem}_attempts" in record:
            result["attempts"] = record[f"{stem}_attempts"]
        members = plan.members_of(task)
        for member in members:
            arrays = files(member.name)
            if not _matches(arrays, fold, task.key):
                return None
            result["test_labels"] = arrays[f"{fold}test_labels"]
            result[score_key(member.space, member.k, "train")] = arrays[f"{fold}train_scores"]
            result[score_key(member.space, member.k, "test")] = arrays[f"{fold}test_scores"]
            if f"{fold}inner_scores" in arrays:
                result[score_key(member.space, member.k, "inner")] = arrays[f"{fold}inner_scores"]
        return result if members else None
    result = {}
    for name in task.names:
        arrays = files(baseline_stem(name))
        if not _matches(arrays, fold, task.key):
            return None
        result.update({f"{name}_predicted": arrays[f"{fold}test_predicted"], "test_labels": arrays[f"{fold}test_labels"],
                       "seconds": arrays[f"{fold}seconds"]})
        if f"{fold}params" in arrays:
            result[f"{name}_params"] = arrays[f"{fold}params"]
        elif name in task.tuned:
            return None
    return result


def results_from_folder(plan: EnsemblePlan, folder: Path, tasks: list) -> tuple[dict, list]:
    """(results by key of the ``tasks`` the folder's score files hold, the tasks they do not)."""
    files, found, missing = _Files(folder), {}, []
    for task in tasks:
        result = _rebuild(plan, task, files)
        if result is None:
            missing.append(task)
        else:
            found[task.key] = result
    return found, missing
