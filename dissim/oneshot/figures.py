"""Figures of a one-shot run (matplotlib, Agg): t-SNE of test-class spectra, Siamese training curves.

The t-SNE figure (Liu et al. §3.3) shows the spectra of the unseen test classes of one partition,
keeping only classes with at least ``tsne_min_spectra`` spectra to avoid clutter, side by side:
as the preprocessed spectra themselves and as the Siamese network's features f(x).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .matchers import parse_method


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = float(max(2.0, min(30.0, (len(x) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def write_figures(folder: Path, data, partitions, outcomes, settings, preprocessings, figure_partition: int) -> list[str]:
    """Write the figures; returns their file names (relative to ``folder``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    siamese = [m for m in settings.methods if parse_method(m)[0] == "siamese"]
    partition = next((p for p in partitions if p.number == figure_partition), None)
    if siamese and partition is not None:
        method = siamese[0]
        outcome = outcomes[method][partitions.index(partition)]
        if outcome.embeddings is not None:
            name = f"tsne-partition{partition.number}.png"
            if _tsne_figure(folder / name, data, partition, outcome.embeddings, method,
                            preprocessings[parse_method(method)[1]], settings.tsne_min_spectra):
                written.append(name)
        curves = [(m, outcomes[m][partitions.index(partition)].history) for m in siamese]
        if any(h for _, h in curves):
            name = f"training-partition{partition.number}.png"
            _training_figure(folder / name, curves, partition.number)
            written.append(name)
    return written


def _tsne_figure(path: Path, data, partition, embeddings: np.ndarray, method: str, preprocess,
                 min_spectra: int) -> bool:
    test = np.concatenate([partition.reference_index, partition.query_index])
    labels = data.labels[test]
    counts = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    keep = np.array([counts[c] >= min_spectra for c in labels])
    if keep.sum() < 6 or len({c for c in labels[keep]}) < 2:
        return False
    x_input = preprocess(data.spectra[test[keep]])
    views = [("input spectra (min-max" + (", ALS" if preprocess.als else "") + ")", x_input),
             (f"{method} features f(x)", embeddings[keep])]
    classes = sorted(set(labels[keep].tolist()))
    plt = _pyplot()
    cmap = plt.get_cmap("tab20")
    markers = "osD^v<>px*"
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    for ax, (title, x) in zip(axes, views):
        points = _tsne(np.asarray(x, np.float64), seed=partition.number)
        for i, c in enumerate(classes):
            mine = labels[keep] == c
            ax.scatter(points[mine, 0], points[mine, 1], s=28, color=cmap(i % 20), marker=markers[i // 20 % len(markers)],
                       label=data.class_names[c], edgecolors="none")
        ax.set_title(f"t-SNE of {title}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", fontsize=6.5, ncol=1 if len(classes) <= 30 else 2, frameon=False)
    fig.suptitle(f"{data.name}: unseen test classes of partition {partition.number} with >= {min_spectra} spectra "
                 f"({len(classes)} classes, {int(keep.sum())} spectra)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.86 if len(classes) <= 30 else 0.76, 0.95))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _training_figure(path: Path, curves, number: int) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (method, history) in enumerate(curves):
        if not history:
            continue
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        ax.plot(epochs, history["train_loss"], color=f"C{i}", label=f"{method} training pairs")
        if history["val_loss"]:
            ax.plot(epochs, history["val_loss"], color=f"C{i}", linestyle="--", label=f"{method} validation pairs")
        if history["best_epoch"]:
            ax.axvline(history["best_epoch"], color=f"C{i}", linewidth=0.8, alpha=0.5)
    ax.set_xlabel("epoch (bootstrap iteration)")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title(f"Siamese training, partition {number} (vertical line: epoch kept)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
