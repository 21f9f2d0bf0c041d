"""Figures of a run (PNG, headless): confusion matrix of the best fusion, accuracy per row,
training-loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ensemble.fusion import sum_rule
from ..storage import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def write_figures(folder: Path, plan, rows, scores, results) -> list[Path]:
    """Write the three figures; returns their paths."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    fusions = [r for r in rows if len(r.members) > 1] or rows
    best = max(fusions, key=lambda r: r.mean)
    n = plan.dataset.n_classes
    confusion = np.zeros((n, n), dtype=int)
    for fold in plan.folds:
        parts = [scores[m.name][fold] for m in best.members]
        fused = sum_rule([p[1] for p in parts], [p[0] for p in parts])
        np.add.at(confusion, (parts[0][2], np.argmax(fused, axis=1)), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * n, 1 + 0.5 * n))
    ax.imshow(confusion, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    names = plan.dataset.class_names
    ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"best fusion: {best.name}\n{best.mean:.2f}% mean over folds; counts over all test folds", fontsize=9)
    _save(fig, folder / "confusion_best_fusion.png")
    plt.close(fig)
    written.append(folder / "confusion_best_fusion.png")

    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1))
    y = np.arange(len(rows))
    ax.barh(y, [r.mean for r in rows], xerr=[r.std for r in rows], color=["C0" if len(r.members) == 1 else "C1" for r in rows])
    ax.set_yticks(y, [r.name for r in rows], fontsize=7)
    ax.invert_yaxis()
    low = min(r.mean - r.std for r in rows)
    ax.set_xlim(max(0, low - 5), 100)
    ax.set_xlabel("accuracy (%), mean ± std over folds (blue: members, orange: fusions)")
    _save(fig, folder / "accuracy.png")
    plt.close(fig)
    written.append(folder / "accuracy.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for unit in plan.units:
        curves = [results[t.key]["loss_history"] for t in plan.tasks if t.unit == unit]
        curve = np.mean(curves, axis=0)
        window = max(1, len(curve) // 30)
        smooth = np.convolve(curve, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(smooth)) + window, smooth, label=unit.name, lw=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (mean over folds, smoothed)")
    ax.legend(fontsize=6)
    _save(fig, folder / "training_loss.png")
    plt.close(fig)
    written.append(folder / "training_loss.png")
    return written
