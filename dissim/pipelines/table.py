"""Accuracy rows (members and fusions) and the table files: table.csv and table.md."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from ..ensemble.fusion import accuracy, sum_rule
from ..ensemble.members import Member
from .recipe import Recipe, Selection


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of per-fold accuracies."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Row:
    """One table row: a member or a fusion of members, with its accuracy (%) per fold."""

    name: str
    members: tuple[Member, ...]
    folds: tuple[float, ...]

    @property
    def mean(self) -> float:
        return mean_std(self.folds)[0]

    @property
    def std(self) -> float:
        """Sample standard deviation over folds (0 with a single fold)."""
        return mean_std(self.folds)[1]


# fold scores of one member: fold -> (train scores, test scores, test labels)
FoldScores = dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def fused_row(name: str, members: list[Member], scores: dict[str, FoldScores], folds: list[int]) -> Row:
    """Sum rule of the members' z-scored scores, accuracy per fold."""
    per_fold = []
    for fold in folds:
        parts = [scores[m.name][fold] for m in members]
        labels = parts[0][2]
        fused = sum_rule([p[1] for p in parts], [p[0] for p in parts])
        per_fold.append(accuracy(fused, labels))
    return Row(name, tuple(members), tuple(per_fold))


def default_fusions(recipe: Recipe) -> list[Selection]:
    """Without a recipe layout: per (topology, method), FULLY+DEEPER over all k, and per space over all k."""
    out = []
    several_k = len(recipe.profile.prototypes) > 1
    for topology in recipe.topologies:
        for method in recipe.methods:
            stem = f"{topology}-{method.slug}"
            if several_k:
                out += [Selection(f"{stem}-{space}-all-k", topologies=(topology,), methods=(method.name,),
                                  spaces=(space,)) for space in recipe.spaces]
            if len(recipe.spaces) > 1:
                out.append(Selection(f"{stem}-fully+deeper" + ("-all-k" if several_k else ""),
                                     topologies=(topology,), methods=(method.name,)))
    return out


def table_cells(recipe: Recipe) -> list[list[Selection]]:
    """The recipe's grid as selections: cell (r, c) = row filter AND column filter."""
    rows: list[Selection] = []
    pending: list[Selection] = []

    def flush():
        for topology in recipe.topologies:  # per-topology rows, topology-major
            rows.extend(Selection(name=f"{topology} {r.name}", topologies=(topology,)) & r for r in pending)
        pending.clear()

    for row in recipe.table.rows:
        if row.per_topology:
            pending.append(row)
        else:
            flush()
            rows.append(row)
    flush()
    single = len(recipe.table.columns) == 1
    return [[(r & c) if single else Selection(f"{r.name} / {c.name}") & (r & c) for c in recipe.table.columns]
            for r in rows]


def build_rows(recipe: Recipe, members: list[Member], scores: dict[str, FoldScores], folds: list[int]):
    """(member and fusion rows for the CSV, grid of rows for table.md or None)."""
    rows = [fused_row(m.name, [m], scores, folds) for m in members]
    seen = {r.name for r in rows}

    def add(selection: Selection) -> Row | None:
        chosen = [m for m in members if selection.matches(m)]
        if not chosen:
            return None
        row = fused_row(selection.name, chosen, scores, folds)
        if row.name not in seen:
            rows.append(row)
            seen.add(row.name)
        return row

    grid = None
    if recipe.table is not None:
        cells = table_cells(recipe)
        grid = [[add(cell) for cell in line] for line in cells]
        grid = (cells, grid)
    for selection in recipe.fusions or ([] if recipe.table is not None else default_fusions(recipe)):
        add(selection)
    return rows, grid


def table_csv(rows: list[Row], folds: list[int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", *[f"fold_{f}" for f in folds], "mean", "std"])
    for row in rows:
        writer.writerow([row.name, *[f"{a:.2f}" for a in row.folds], f"{row.mean:.2f}", f"{row.std:.2f}"])
    return out.getvalue()


def table_markdown(title: str, header: list[str], rows: list[Row], grid, folds: list[int], recipe: Recipe) -> str:
    lines = [f"# {title}", ""]
    lines += [line for line in header] + [""]
    if grid is not None:
        cells, values = grid
        columns = [c.name for c in recipe.table.columns]
        lines += ["Mean accuracy (%) over the folds; each cell fuses (sum rule of z-scored SVM scores) "
                  "the members its row and column select.", ""]
        lines.append("| | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for line_cells, line_values in zip(cells, values):
            name = line_cells[0].name.split(" / ")[0] if len(columns) > 1 else line_cells[0].name
            shown = [f"{v.mean:.2f}" if v is not None else "–" for v in line_values]
            lines.append(f"| {name} | " + " | ".join(shown) + " |")
        lines.append("")
        lines += ["## All members and fusions", ""]
    lines.append("| method | " + " | ".join(f"fold {f}" for f in folds) + " | mean | std |")
    lines.append("|---|" + "---:|" * (len(folds) + 2))
    for row in rows:
        lines.append(f"| {row.name} | " + " | ".join(f"{a:.2f}" for a in row.folds)
                     + f" | {row.mean:.2f} | {row.std:.2f} |")
    lines.append("")
    return "\n".join(lines)
