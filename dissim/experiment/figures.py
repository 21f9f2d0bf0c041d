"""Draws the figures a protocol asks for (:class:`~dissim.eval.report.Figure`), headless, as PNG files.

Kinds: ``confusion`` (a count matrix), ``bars`` (rows' mean ± std; members, fusions and baselines
in their own colours), ``curves`` (lines over a common x, optional vertical marks, one axis or side-by-side
panels) and ``tsne``
(side-by-side t-SNE maps of several views of the same labelled items) and ``saliency`` (a pair of
images with the input-gradient map of their similarity over each).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval.report import Figure
from ..storage import atomic_write

KIND_COLOURS = {"member": "C0", "fusion": "C1", "baseline": "C7"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["text.usetex"] = False
    return plt


def _save(fig, path: Path, dpi: int = 110) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))


def _plain(text: str) -> str:
    """Text shown as written (a class named $x$ is not typeset as maths)."""
    return str(text).replace("$", r"\$")


def confusion(plt, data: dict):
    matrix, names = np.asarray(data["matrix"]), [_plain(n) for n in data["class_names"]]
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * n, 1 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(_plain(data["title"]), fontsize=9)
    return fig


def bars(plt, data: dict):
    rows = data["rows"]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1))
    y = np.arange(len(rows))
    ax.barh(y, [r.mean for r in rows], xerr=[r.std for r in rows], color=[KIND_COLOURS[r.kind] for r in rows])
    ax.set_yticks(y, [_plain(r.name) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(max(0, min(r.mean - r.std for r in rows) - 5), 100)
    ax.set_xlabel(data["xlabel"])
    return fig


def robust_top(curves: list[dict]) -> float | None:
    """An upper y limit that the first steps' spikes do not set: the highest value of any curve after
    its first twentieth (at least its first point), or None when no curve is that long."""
    tops = [np.max(np.asarray(c["y"], dtype=float)[max(1, len(c["y"]) // 20):]) for c in curves if len(c["y"]) > 1]
    tops = [t for t in tops if np.isfinite(t)]
    return max(tops) if tops else None


def _curves_panel(ax, panel: dict, xlabel: str, ylabel: str) -> None:
    for curve in panel["curves"]:
        ax.plot(curve["x"], curve["y"], label=_plain(curve["label"]), lw=1, color=curve.get("color"),
                linestyle=curve.get("linestyle", "-"))
    for mark in panel.get("vlines", []):
        ax.axvline(mark["x"], color=mark.get("color"), linewidth=0.8, alpha=0.5)
    values = [np.asarray(c["y"], dtype=float) for c in panel["curves"] if len(c["y"])]
    top = robust_top(panel["curves"]) if panel.get("robust", True) else None
    if top is not None and values:
        low, highest = min(np.nanmin(v) for v in values), max(np.nanmax(v) for v in values)
        if top > low and highest - low > 1.25 * (top - low):  # the first steps would squeeze the rest
            ax.set_ylim(low - 0.05 * (top - low), top + 0.05 * (top - low))
            ylabel += " (first steps above the axis)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if panel.get("title"):
        ax.set_title(_plain(panel["title"]), fontsize=10)
    ax.legend(fontsize=6 if len(panel["curves"]) > 4 else 8)


def curves(plt, data: dict):
    """Lines over a common x: one axis (``curves``), or one panel per ``panels`` entry (each with its own
    ``curves``, ``title`` and ``ylabel``), side by side, so that quantities of different scales (e.g.
    losses of different kinds) never share an axis. The y axis stops at :func:`robust_top`."""
    panels = data.get("panels") or [{"curves": data["curves"], "title": data.get("title"),
                                     "ylabel": data["ylabel"], "vlines": data.get("vlines", []),
                                     "robust": data.get("robust", True)}]
    width, height = data.get("size", (7, 4))
    fig, axes = plt.subplots(1, len(panels), figsize=(width if len(panels) == 1 else 4.2 * len(panels), height),
                             squeeze=False)
    for ax, panel in zip(axes[0], panels):
        _curves_panel(ax, panel, data["xlabel"], panel.get("ylabel", data.get("ylabel", "")))
    if len(panels) > 1 and data.get("title"):
        fig.suptitle(_plain(data["title"]), fontsize=11)
    fig.tight_layout()
    return fig


def tsne(plt, data: dict):
    from sklearn.manifold import TSNE

    labels, names = np.asarray(data["labels"]), data["class_names"]
    classes = sorted(set(labels.tolist()))
    cmap, markers = plt.get_cmap("tab20"), "osD^v<>px*"
    fig, axes = plt.subplots(1, len(data["views"]), figsize=(6 * len(data["views"]), 5.6))
    for ax, (title, x) in zip(np.atleast_1d(axes), data["views"]):
        x = np.asarray(x, np.float64)
        perplexity = float(max(2.0, min(30.0, (len(x) - 1) / 3)))
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=data["seed"]).fit_transform(x)
        for i, c in enumerate(classes):
            mine = labels == c
            ax.scatter(points[mine, 0], points[mine, 1], s=28, color=cmap(i % 20), marker=markers[i // 20 % len(markers)],
                       label=_plain(names[c]), edgecolors="none")
        ax.set_title(f"t-SNE of {_plain(title)}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, shown = np.atleast_1d(axes)[-1].get_legend_handles_labels()
    fig.legend(handles, shown, loc="center right", fontsize=6.5, ncol=1 if len(classes) <= 30 else 2, frameon=False)
    fig.suptitle(_plain(data["title"]), fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.86 if len(classes) <= 30 else 0.76, 0.95))
    return fig


def saliency(plt, data: dict):
    """Two images of a pair and, under each, the map of the similarity's input gradient."""
    fig, axes = plt.subplots(2, 2, figsize=(6, 6.4))
    for column, (image, heat) in enumerate(zip(data["images"], data["maps"])):
        image = np.asarray(image)
        axes[0, column].imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
        axes[0, column].set_title(_plain(data["labels"][column]), fontsize=9)
        axes[1, column].imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
        axes[1, column].imshow(np.asarray(heat), cmap="inferno", alpha=0.6)
        for row in (0, 1):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
    axes[1, 0].set_ylabel("|∂ similarity / ∂ pixel|", fontsize=8)
    fig.suptitle(_plain(data["title"]), fontsize=10)
    fig.tight_layout()
    return fig


DRAWINGS = {"confusion": confusion, "bars": bars, "curves": curves, "tsne": tsne, "saliency": saliency}


def write_figures(folder: Path, figures: list[Figure], warn=print) -> list[Path]:
    """Draw every figure into ``folder``; returns the paths written.

    A figure that cannot be drawn is reported through ``warn`` and skipped: a finished run's tables
    are never lost to a figure.
    """
    if not figures:
        return []
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for figure in figures:
        try:
            fig = DRAWINGS[figure.kind](plt, figure.data)
            try:
                _save(fig, folder / figure.name, dpi=90 if figure.kind == "tsne" else 110)
            finally:
                plt.close(fig)
        except Exception as exc:  # drawing is the last step: report it, keep the results
            warn(f"warning: figure {figure.name} could not be drawn ({type(exc).__name__}: {exc}); "
                 "the tables and scores are written")
            continue
        written.append(folder / figure.name)
    return written
