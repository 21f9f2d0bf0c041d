"""What an open-set run reports: per method, the accuracy on each known class's test spectra, the
fraction of the held-out class's spectra called unknown, and their average (as the paper's Tables 4-6)."""

from __future__ import annotations

import json

import numpy as np

from ..._version import __version__
from ...eval.report import Figure, MetricRow, MetricTable, Report, Section
from .task import CLOSED_SET, UNKNOWN

KINDS = {"siamese-contrastive-ce": "member", "siamese-contrastive": "member", "closed-set-cnn": "baseline",
         "closed-set-cnn-max-softmax": "baseline", "closed-set-cnn-energy": "baseline"}

LOSS_NAMES = {"siamese-contrastive-ce": "contrastive + cross-entropy loss", "siamese-contrastive": "contrastive loss",
              CLOSED_SET: "cross-entropy loss"}


def method_values(plan, results: dict, method: str) -> dict:
    """{class name: % of its test spectra right while it is known, "unknown": % of held-out spectra
    rejected, "average": the mean of those columns} over the runs."""
    data, per_class, unknown = plan.dataset, {int(c): [] for c in plan.classes}, []
    for task in plan.tasks:
        key = f"pred_{method}"
        if key not in results[task.key]:
            continue
        predicted, truth = results[task.key][key], data.labels[task.test_index]
        held = truth == task.held_out
        unknown.append(100 * float(np.mean(predicted[held] == UNKNOWN)))
        for c in per_class:
            mine = truth == c
            if c != task.held_out and mine.any():
                per_class[c].append(100 * float(np.mean(predicted[mine] == c)))
    values = {data.class_names[c]: float(np.mean(v)) for c, v in per_class.items()}
    values["unknown"] = float(np.mean(unknown))
    values["average"] = float(np.mean(list(values.values())))
    return values


def build_report(plan, results: dict) -> Report:
    s, data = plan.recipe.settings, plan.dataset
    columns = tuple(data.class_names[c] for c in plan.classes) + ("unknown", "average")
    rows = tuple(MetricRow(m, method_values(plan, results, m), KINDS[m]) for m in s.methods)
    table = MetricTable(rows, columns)
    margin = f"η = {s.margin:g}" if s.margin else "η = the largest distance between class centres (eq. 10)"
    header = [plan.recipe.description,
              f"Data set: {data.name}; {len(plan.classes)} classes with >= {s.min_per_class} spectra, each held out in "
              f"turn as the unknown class; {s.train_per_class} random training spectra per known class, the rest of "
              "them and every held-out spectrum are the test set. Spectra min-max scaled to [0, 1]"
              + (f"; input layer σ(x ⊙ b) with b from {plan.background}." if plan.background else
                 "; no background-noise input layer (the data set has no background recording)."),
              "Columns: % of a known class's test spectra identified as that class (mean over the runs in which "
              "it is known); unknown: % of the held-out class's spectra called unknown (mean over the runs); "
              "average: the mean of the columns.",
              f"Models: {s.topology} sub-network, Adam lr {s.lr:g}, batches of {s.batch_size}; {s.epochs} epochs "
              f"for the Siamese ones, {s.cnn_epochs} for the CNN. "
              f"Siamese: {margin}, α1 = {s.alpha1:g}, α2 = {s.alpha2:g}, ξ = {s.ce_margin:g}, cross-entropy weight "
              f"{s.ce_weight:g}, {s.negatives_per_positive} different-class pairs per same-class pair; a spectrum goes to "
              "the nearest known-class centre, or is unknown beyond the threshold. CNN: softmax over the known "
              "classes; max-softmax rejects when the largest softmax probability is below its threshold, energy when "
              "the logsumexp of the logits (minus the energy) is below its own. Every threshold lets through all but "
              f"{100 * s.false_rejection:g}% of the training spectra.",
              f"Seed {plan.options.seed}; dissim {__version__}; the command line, device and versions are in config.json."]
    panels = {}  # one panel per loss: contrastive + cross-entropy, contrastive, cross-entropy have their own scales
    for task in plan.tasks:
        history = json.loads(str(results[task.key]["history"]))
        panels.setdefault(task.family, []).append({"label": f"without {data.class_names[task.held_out]}",
                                                   "x": np.arange(1, len(history["train_loss"]) + 1),
                                                   "y": history["train_loss"]})
    figures = [Figure("training_loss.png", "curves", {
        "panels": [{"title": family, "ylabel": LOSS_NAMES.get(family, "training loss"), "curves": curves}
                   for family, curves in panels.items()], "xlabel": "epoch", "size": (7, 3.8)})]
    scores = {task.key[:12] + "-" + task.family: {"test_index": task.test_index, "held_out": np.int64(task.held_out),
                                                  **{k: v for k, v in results[task.key].items() if k.startswith("pred_")}}
              for task in plan.tasks}
    config = {"classes": [data.class_names[c] for c in plan.classes], "device": plan.device,
              "runs": [{"held_out": data.class_names[t.held_out], "family": t.family, "train": len(t.train_index),
                        "test": len(t.test_index), "threshold": float(results[t.key]["threshold"]),
                        **({"threshold_energy": float(results[t.key]["threshold_energy"])}
                           if "threshold_energy" in results[t.key] else {}),
                        "seconds": round(float(results[t.key]["seconds"]), 1)} for t in plan.tasks]}
    return Report(title=f"{data.name} · {plan.recipe.name}", header=header,
                  sections=[Section(table, heading="Identification accuracy (%) per class")], csv={"table.csv": table},
                  scores=scores, figures=figures, config=config)
