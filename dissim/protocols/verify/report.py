"""What a verification run reports: pair accuracy, Jaccard and threshold of each method (mean and
std over the splits), the one-vs-15 test, a saliency figure and the training curves."""

from __future__ import annotations

import json

import numpy as np

from ..._version import __version__
from ...eval.metrics import mean_std, pair_accuracy_jaccard
from ...eval.report import Figure, MetricRow, MetricTable, Report, Section

METHODS = (("siamese-verifier", "siamese", "member"), ("raw-pixel-cosine", "baseline", "baseline"))
COLUMNS = ("accuracy", "accuracy_std", "jaccard", "jaccard_std", "threshold", "accuracy_at_0.5", "jaccard_at_0.5",
           "one_vs_accuracy", "one_vs_jaccard")


def method_values(outcomes: list[dict], prefix: str) -> dict:
    """Every column of the table for one method, over the splits."""
    per_split = {c: [] for c in ("accuracy", "jaccard", "threshold", "accuracy_at_0.5", "jaccard_at_0.5",
                                 "one_vs_accuracy", "one_vs_jaccard")}
    for o in outcomes:
        threshold = float(o[f"{prefix}_threshold"])
        acc, jac = pair_accuracy_jaccard(o[f"{prefix}_test"], o["test_targets"], threshold)
        acc5, jac5 = pair_accuracy_jaccard(o[f"{prefix}_test"], o["test_targets"], 0.5)
        one_acc, one_jac = pair_accuracy_jaccard(o[f"{prefix}_one_vs"], o["one_vs_targets"], threshold)
        for key, value in (("accuracy", acc), ("jaccard", jac), ("threshold", threshold), ("accuracy_at_0.5", acc5),
                           ("jaccard_at_0.5", jac5), ("one_vs_accuracy", one_acc), ("one_vs_jaccard", one_jac)):
            per_split[key].append(value)
    values = {key: mean_std(v)[0] for key, v in per_split.items()}
    values["accuracy_std"], values["jaccard_std"] = mean_std(per_split["accuracy"])[1], mean_std(per_split["jaccard"])[1]
    return values


def _pair_indices(task) -> dict[str, np.ndarray]:
    """The two items of every scored pair as positions in the data set, (pairs, 2) per kind of pair."""
    test_pairs, one_vs_pairs = task.test_pairs()
    index = np.asarray(task.test_index)
    return {"test_pair_index": np.stack([index[test_pairs[0]], index[test_pairs[1]]], axis=1),
            "one_vs_pair_index": np.stack([index[one_vs_pairs[0]], index[one_vs_pairs[1]]], axis=1)}


def build_report(plan, results: dict) -> Report:
    s, data = plan.recipe.settings, plan.dataset
    outcomes = [results[t.key] for t in plan.tasks]
    rows = tuple(MetricRow(name, method_values(outcomes, prefix), kind) for name, prefix, kind in METHODS)
    table = MetricTable(rows, COLUMNS, digits=3)
    first = plan.tasks[0]
    positives = float(np.mean([o["test_targets"].mean() for o in outcomes]) * 100)
    header = [plan.recipe.description,
              f"Data set: {data.name} ({len(data)} images, {data.n_classes} classes); {s.repeats} random stratified "
              f"splits of {len(first.train_index)} train / {len(first.val_index)} validation / {len(first.test_index)} "
              f"test images (fractions {list(s.fractions)}).",
              f"Pairs: every image with {s.partners} random others of its split (target: same class; "
              f"{positives:.1f}% of test pairs are same-class); one-vs-{s.test_partners}: every test image with "
              f"{s.test_partners} random others. Accuracy and Jaccard (TP / (TP + FN + FP)) in %, at the threshold "
              "that maximises F1 on the validation pairs (and at 0.5); mean and std over the splits.",
              f"Verifier: {s.topology} twin at {plan.input_size}x{plan.input_size} (inputs / 255), L1 head, BCE, He "
              f"initialisation, Adam lr {s.lr:g}, weight decay {s.weight_decay:g}, lr x{s.lr_gamma:g} per epoch, "
              f"{s.epochs} epochs of batch {s.batch_size} pairs, flips and greyscale with p = {s.augment_p:g}"
              f"{' (the same for both images of a pair)' if s.augment_paired else ''}. Baseline: cosine similarity "
              "of the raw pixels of the same pairs, threshold chosen on the same validation pairs.",
              f"Seed {plan.options.seed}; dissim {__version__}; the command line, device and versions are in config.json."]
    sections = [Section(table, heading="Pair verification on the test pairs")]
    figures = []
    saliency = outcomes[0]
    if "saliency_images" in saliency:
        names = [data.class_names[int(c)] for c in saliency["saliency_labels"]]
        figures.append(Figure("saliency.png", "saliency", {
            "images": list(saliency["saliency_images"]), "maps": list(saliency["saliency_maps"]),
            "labels": [f"class {n}" for n in names],
            "title": f"a test pair of split 1: similarity {float(saliency['saliency_score']):.3f}; which pixels "
                     "moved it (input gradient)"}))
    curves = []
    for task, outcome in zip(plan.tasks, outcomes):
        history = json.loads(str(outcome["history"]))
        curves.append({"label": f"split {task.repeat}", "x": np.arange(1, len(history["train_loss"]) + 1),
                       "y": history["train_loss"]})
    figures.append(Figure("training_loss.png", "curves", {"curves": curves, "xlabel": "epoch",
                                                          "ylabel": "binary cross-entropy (training pairs)"}))
    scores = {f"split-{t.repeat}": {**{key: o[key] for key in ("siamese_test", "baseline_test", "test_targets",
                                                              "siamese_one_vs", "baseline_one_vs", "one_vs_targets")},
                                    **_pair_indices(t)}
              for t, o in zip(plan.tasks, outcomes)}
    config = {"splits": [{"repeat": t.repeat, "train": len(t.train_index), "validation": len(t.val_index),
                          "test": len(t.test_index), "key": t.key} for t in plan.tasks],
              "input_size": plan.input_size, "device": plan.device,
              "training": [json.loads(str(o["history"])) for o in outcomes]}
    return Report(title=f"{data.name} · {plan.recipe.name}", header=[h for h in header if h], sections=sections,
                  csv={"table.csv": table}, scores=scores, figures=figures, config=config)
