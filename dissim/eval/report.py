"""What a protocol reports, as plain data: rows of per-fold results, tables, sections and figures.

Protocols build these; :mod:`dissim.experiment` writes them (``table.csv``, ``table.md``,
``figures/``), so every protocol's outputs share one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import mean_std


@dataclass(frozen=True)
class Row:
    """One result row: a name and a value (%) per fold or partition; ``kind`` is "member",
    "fusion" or "baseline" (baselines are never fused)."""

    name: str
    values: tuple[float, ...]
    kind: str = "member"
    members: tuple = ()  # what a fusion fuses (protocol-specific objects), for figures

    @property
    def mean(self) -> float:
        return mean_std(self.values)[0]

    @property
    def std(self) -> float:
        """Sample standard deviation over folds (0 with a single fold)."""
        return mean_std(self.values)[1]


@dataclass(frozen=True)
class RowTable:
    """Rows over numbered folds/partitions (``column`` names them: "fold", "partition")."""

    rows: tuple[Row, ...]
    numbers: tuple[int, ...]
    column: str = "fold"
    bold_best: bool = False


@dataclass(frozen=True)
class MetricRow:
    """One method's results under named metrics (``kind`` as :class:`Row`)."""

    name: str
    values: dict
    kind: str = "member"


@dataclass(frozen=True)
class MetricTable:
    """Methods x named metrics (e.g. accuracy, Jaccard, threshold), written with ``digits`` decimals."""

    rows: tuple[MetricRow, ...]
    columns: tuple[str, ...]
    digits: int = 2


@dataclass(frozen=True)
class Grid:
    """A recipe's table layout: one mean (or None, shown as –) per (row, column)."""

    row_names: tuple[str, ...]
    column_names: tuple[str, ...]
    means: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class Section:
    """A part of table.md: optional heading, intro lines, then a table, a grid or text lines."""

    body: RowTable | MetricTable | Grid | tuple[str, ...]
    heading: str | None = None
    intro: tuple[str, ...] = ()


@dataclass(frozen=True)
class Figure:
    """A figure to draw: ``kind`` names the drawing (see :mod:`dissim.experiment.figures`), ``data`` its inputs."""

    name: str
    kind: str
    data: dict = field(default_factory=dict)


@dataclass
class Report:
    """Everything a run writes besides config.json: table files, sections of table.md, score files, figures."""

    title: str
    header: list[str]
    sections: list[Section]
    csv: dict[str, RowTable | MetricTable]  # file name -> table
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # file stem -> arrays
    figures: list[Figure] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # protocol-specific entries of config.json


def count(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it needs: "1 fold", "3 folds" (``plural``: an irregular one)."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
