"""The one results writer: ``table.csv`` (and a protocol's other CSV tables), ``table.md``,
``scores/`` and ``config.json``, each written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..eval.report import Grid, MetricTable, Report, RowTable, Section
from ..storage import atomic_write, atomic_write_text


def table_csv(table: RowTable | MetricTable) -> str:
    """``method,<column>_1,…,<column>_n,mean,std`` (values in % with two decimals), or for a metric
    table ``method,<metric>,…``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if isinstance(table, MetricTable):
        writer.writerow(["method", *table.columns])
        for row in table.rows:
            writer.writerow([row.name, *[f"{row.values[c]:.{table.digits}f}" for c in table.columns]])
        return out.getvalue()
    writer.writerow(["method", *[f"{table.column}_{n}" for n in table.numbers], "mean", "std"])
    for row in table.rows:
        writer.writerow([row.name, *[f"{v:.2f}" for v in row.values], f"{row.mean:.2f}", f"{row.std:.2f}"])
    return out.getvalue()


def _rows_markdown(table: RowTable) -> list[str]:
    best = max(row.mean for row in table.rows) if table.rows else None
    lines = ["| method | " + " | ".join(f"{table.column} {n}" for n in table.numbers) + " | mean | std |",
             "|---|" + "---:|" * (len(table.numbers) + 2)]
    for row in table.rows:
        mean = f"{row.mean:.2f}"
        if table.bold_best and np.isclose(row.mean, best):
            mean = f"**{mean}**"
        lines.append(f"| {row.name} | " + " | ".join(f"{v:.2f}" for v in row.values) + f" | {mean} | {row.std:.2f} |")
    return lines


def _metrics_markdown(table: MetricTable) -> list[str]:
    lines = ["| method | " + " | ".join(table.columns) + " |", "|---|" + "---:|" * len(table.columns)]
    for row in table.rows:
        name = f"{row.name} (baseline)" if row.kind == "baseline" else row.name
        lines.append(f"| {name} | " + " | ".join(f"{row.values[c]:.{table.digits}f}" for c in table.columns) + " |")
    return lines


def _grid_markdown(grid: Grid) -> list[str]:
    lines = ["| | " + " | ".join(grid.column_names) + " |", "|---|" + "---:|" * len(grid.column_names)]
    for name, means in zip(grid.row_names, grid.means):
        lines.append(f"| {name} | " + " | ".join(f"{m:.2f}" if m is not None else "–" for m in means) + " |")
    return lines


def _section(section: Section) -> list[str]:
    lines = [f"## {section.heading}", ""] if section.heading else []
    if section.intro:
        lines += [*section.intro, ""]
    if isinstance(section.body, RowTable):
        return lines + _rows_markdown(section.body)
    if isinstance(section.body, Grid):
        return lines + _grid_markdown(section.body)
    if isinstance(section.body, MetricTable):
        return lines + _metrics_markdown(section.body)
    return lines + list(section.body)


def report_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", *report.header, ""]
    for i, section in enumerate(report.sections):
        lines += ([""] if i else []) + _section(section)
    return "\n".join(lines + [""])


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return atomic_write(path, write)


def with_item_ids(arrays: dict[str, np.ndarray], item_ids) -> dict[str, np.ndarray]:
    """The score file's arrays with, beside every integer ``<name>_index`` array (positions in the data
    set), ``<name>_items``: the ids of those items (file paths relative to the data root, spectrum ids)."""
    ids = np.asarray(item_ids, dtype=str)
    out = {}
    for name, array in arrays.items():
        out[name] = array
        array = np.asarray(array)
        if name.endswith("_index") and array.dtype.kind in "iu" and len(ids):
            out[name.removesuffix("_index") + "_items"] = ids[array]
    return out


def write_report(out: Path, report: Report, item_ids=()) -> list[Path]:
    """The tables and score files of a report (figures: :mod:`dissim.experiment.figures`); score files
    name their items (:func:`with_item_ids`). Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_text(out / name, table_csv(table)) for name, table in report.csv.items()]
    written.append(atomic_write_text(out / "table.md", report_markdown(report)))
    for stem, arrays in report.scores.items():
        written.append(_save_npz(out / "scores" / f"{stem}.npz", with_item_ids(arrays, item_ids)))
    return written


def write_config(out: Path, config: dict) -> Path:
    return atomic_write_text(out / "config.json", json.dumps(config, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
