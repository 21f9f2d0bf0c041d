"""One-shot result tables: a row per method, a column per partition, then mean and std (in %)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from ..pipelines.table import mean_std


@dataclass(frozen=True)
class MethodRow:
    name: str
    values: tuple[float, ...]  # one per partition, in %

    @property
    def mean(self) -> float:
        return mean_std(self.values)[0]

    @property
    def std(self) -> float:
        """Sample standard deviation over partitions (0 with a single partition)."""
        return mean_std(self.values)[1]


def rows_csv(rows: list[MethodRow], partitions: list[int]) -> str:
    """``method,partition_1,…,partition_n,mean,std`` with values in % (two decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method", *[f"partition_{p}" for p in partitions], "mean", "std"])
    for row in rows:
        writer.writerow([row.name, *[f"{v:.2f}" for v in row.values], f"{row.mean:.2f}", f"{row.std:.2f}"])
    return out.getvalue()


def _markdown_table(rows: list[MethodRow], partitions: list[int]) -> list[str]:
    best = max(row.mean for row in rows)
    lines = ["| method | " + " | ".join(f"partition {p}" for p in partitions) + " | mean | std |",
             "|---|" + "---:|" * (len(partitions) + 2)]
    for row in rows:
        mean = f"**{row.mean:.2f}**" if np.isclose(row.mean, best) else f"{row.mean:.2f}"
        lines.append(f"| {row.name} | " + " | ".join(f"{v:.2f}" for v in row.values) + f" | {mean} | {row.std:.2f} |")
    return lines


def comparison_lines(accuracy: list[MethodRow], macro_f1: list[MethodRow]) -> list[str]:
    """How each Siamese row fares against the nearest-neighbour rows on the same input, partition by partition."""
    by_name = {row.name: row for row in accuracy}
    lines = []
    for row in accuracy:
        if not row.name.startswith("siamese"):
            continue
        suffix = row.name[len("siamese"):]
        for other in (f"nn-l2{suffix}", f"nn-cosine{suffix}", f"lmnn{suffix}"):
            if other not in by_name:
                continue
            diff = np.subtract(row.values, by_name[other].values)
            wins = int(np.sum(diff > 0))
            verdict = "better" if diff.mean() > 0 else "worse" if diff.mean() < 0 else "equal"
            lines.append(f"- {row.name} vs {other}: {verdict} by {abs(diff.mean()):.2f} accuracy points on average "
                         f"({row.mean:.2f}% vs {by_name[other].mean:.2f}%); higher on {wins} of {len(diff)} partitions.")
    return lines


def rows_markdown(title: str, header: list[str], accuracy: list[MethodRow], macro_f1: list[MethodRow],
                  partitions: list[int], comparison: list[str]) -> str:
    lines = [f"# {title}", ""]
    lines += [h for h in header if h] + [""]
    lines += ["## Accuracy (%) of one-shot matching on unseen classes", ""] + _markdown_table(accuracy, partitions)
    lines += ["", "## Macro-F1 (%) (averaged over the test classes that have queries)", ""]
    lines += _markdown_table(macro_f1, partitions)
    if comparison:
        lines += ["", "## Siamese against the baselines (same partitions, same references)", ""] + comparison
    lines.append("")
    return "\n".join(lines)
