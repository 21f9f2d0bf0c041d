"""The test scores behind each member and fusion row of an ensemble table, for score exports
(``--export mat``): :class:`~dissim.eval.report.RowScores`, which the ensemble's report carries when
the run asks for an export."""

from __future__ import annotations

from collections.abc import Iterable

from ...eval.fusion import ZScore
from ...eval.report import RowScores
from .members import EnsemblePlan


def row_scores(plan: EnsemblePlan, fused_rows: Iterable, scores: dict) -> list[RowScores]:
    """Per member and fusion row (``fused_rows``: rows with their fused test scores per fold and, for
    learned fusions, weights), its test scores fold by fold. A row of one member (a member, or a table
    cell that selects one) has that member's SVM scores (``scores[name][fold]``); a fusion its fused
    scores and, if learned, its member weights. Baselines have no scores."""
    out = []
    for fused in fused_rows:
        row, zscore, weights = fused.row, (), ()
        if row.kind == "member":
            parts = [scores[row.members[0].name][fold] for fold in plan.folds]
            tests = [part.test for part in parts]
            zscore = tuple((z.mean_, z.std_) for z in (ZScore().fit(part.train) for part in parts))
        else:
            tests = [fused.test[fold][0] for fold in plan.folds]
            weights = tuple(fused.weights[fold] for fold in plan.folds) if fused.weights is not None else ()
        out.append(RowScores(
            name=row.name, kind=row.kind, members=tuple(m.name for m in row.members),
            class_names=tuple(plan.dataset.class_names), folds=tuple(plan.folds), scores=tuple(tests),
            labels=tuple(fused.test[fold][1] for fold in plan.folds),
            test_index=tuple(plan.dataset.folds[fold - 1][1] for fold in plan.folds),
            accuracy=row.values, zscore=zscore, weights=weights))
    return out
