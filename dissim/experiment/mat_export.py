"""Score files for the MATLAB toolbox's scripts (``--export mat``): one MATLAB v5 ``.mat`` file per
member and per fusion row of the table, in ``scores/`` beside the ``.npz`` files.

Each file holds, for the run's folds f = 1..F (cell arrays, one cell per fold):

- ``DecisionValue{f}``: test items x classes, double: the member's SVM scores (one column per
  class, in ``ClassNames`` order), or a fusion's fused scores (the sum of its members' z-scored
  scores; a learned fusion's weighted sum);
- ``TestLabels{f}``: test items x 1, the true class as a 1-based column of ``DecisionValue``;
- ``TestIndex{f}``: test items x 1, 1-based positions of the test items in the data set: indices
  into ``DATA{1}`` for a ``--dataset mat`` file (dissim's item order for other data sets);
- ``TestItems{f}``: test items x 1 cell, the items' ids (file paths relative to the data root,
  ``DATA{1}{i}`` for a ``.mat`` data set), as ``<name>_items`` in the ``.npz`` files;
- ``Folds``, ``Accuracy``: 1 x F, the fold numbers and the row's accuracy (%) on each;
- ``Method``, ``Kind`` ('member' or 'fusion'), ``Members`` (1 x M cell of the member names fused),
  ``ClassNames`` (1 x C cell);
- members only: ``TrainMean``, ``TrainStd`` (1 x F), the z-score statistics of the member's training
  scores, so that a sum-rule fusion is ``sum over members of (DecisionValue{f} - TrainMean(f)) / TrainStd(f)``;
- learned fusions only: ``Weights{f}``, 1 x M, the weight of each of ``Members`` on fold f.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..eval.report import Report, RowScores
from ..storage import atomic_write

EXPORT_FORMATS = ("mat",)


def check_exports(formats, protocol) -> tuple[str, ...]:
    """The export formats asked for, each known and written by ``protocol``; UserError otherwise."""
    formats = tuple(formats or ())
    for name in formats:
        if name not in EXPORT_FORMATS:
            raise UserError(f"--export {name}: unknown format; known: {', '.join(EXPORT_FORMATS)}")
        if name not in getattr(protocol, "exports", ()):
            raise UserError(f"--export {name} applies to ensemble recipes (their members' and fusions' scores); "
                            f"drop it for {protocol.name} recipes")
    return formats


def write_exports(out: Path, report: Report, formats, item_ids=()) -> list[Path]:
    """Write the score files of ``formats`` under ``out/scores`` (``item_ids``: each item's id, by its
    position in the data set); returns the paths written. Files an earlier run wrote and this one does
    not are removed by the results folder's manifest (:mod:`.folder`), like its other files."""
    folder = Path(out) / "scores"
    if "mat" not in formats:
        return []
    return [write_mat_scores(folder / f"{stem}.mat", row, item_ids)
            for stem, row in zip(file_stems(report.row_scores), report.row_scores)]


def file_stems(rows: list[RowScores]) -> list[str]:
    """One file name per row: a member's name (as its .npz), a fusion's name with characters that do
    not belong in file names replaced by '_' (and -2, -3, ... where two rows would share one)."""
    stems, used = [], set()
    for row in rows:
        stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", row.name).strip("._") or "row"
        candidate, n = stem, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate.lower())
        stems.append(candidate)
    return stems


def _cell(values) -> np.ndarray:
    out = np.empty((1, len(values)), dtype=object)
    for i, value in enumerate(values):
        out[0, i] = value
    return out


def mat_variables(row: RowScores, item_ids=()) -> dict:
    """The variables of one row's .mat file (see the module's docstring)."""
    ids = np.asarray(item_ids, dtype=str)
    variables = {
        "DecisionValue": _cell([np.asarray(s, dtype=np.float64) for s in row.scores]),
        "TestLabels": _cell([np.asarray(labels, dtype=np.float64).reshape(-1, 1) + 1 for labels in row.labels]),
        "TestIndex": _cell([np.asarray(index, dtype=np.float64).reshape(-1, 1) + 1 for index in row.test_index]),
        "TestItems": _cell([_cell(list(ids[np.asarray(index)])).T if len(ids) else np.empty((0, 1), dtype=object)
                            for index in row.test_index]),
        "Folds": np.array([row.folds], dtype=np.float64),
        "Accuracy": np.array([row.accuracy], dtype=np.float64),
        "Method": row.name, "Kind": row.kind,
        "Members": _cell(list(row.members)), "ClassNames": _cell(list(row.class_names)),
    }
    if row.zscore:
        variables["TrainMean"] = np.array([[mean for mean, _ in row.zscore]], dtype=np.float64)
        variables["TrainStd"] = np.array([[std for _, std in row.zscore]], dtype=np.float64)
    if row.weights:
        variables["Weights"] = _cell([np.asarray(w, dtype=np.float64).reshape(1, -1) for w in row.weights])
    return variables


def write_mat_scores(path: Path, row: RowScores, item_ids=()) -> Path:
    """One row's scores as a MATLAB v5 file, written atomically."""
    from scipy.io import savemat

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: savemat would append ".mat" to the temporary name
            savemat(handle, mat_variables(row, item_ids), do_compression=True)

    return atomic_write(Path(path), write)
