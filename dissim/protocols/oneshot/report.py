"""What a one-shot run reports: accuracy and macro-F1 per method and partition, the Siamese rows
against the baselines, predictions, a t-SNE of unseen classes and the training curves."""

from __future__ import annotations

import json

import numpy as np

from ..._version import __version__
from ...eval.report import Figure, Report, Row, RowTable, Section
from ...train import augmentation_recipe, get_loss
from ...train.samplers import SAMPLERS
from ...eval.metrics import accuracy_and_macro_f1
from ...eval.matchers import MATCHERS
from ...eval.matchers.sum_rule import fuse_similarities
from .settings import (
    FIGURE_PARTITION,
    batch_unit,
    fusion_members,
    gives_single_views,
    is_augmented,
    is_network,
    matcher_of,
    parse_method,
    preprocessings,
    training_sampler,
)
from .task import row_outcome


def paired_comparison(rows: list[Row]) -> list[str]:
    """The best Siamese row (any row with a network that matches references: not the CNN classifier)
    against the best baseline row (by mean), partition by partition: the differences, their mean
    and standard deviation, a paired t-test and a two-sided sign test."""
    from scipy.stats import binomtest, ttest_rel

    siamese = [r for r in rows if is_network(r.name) and not matcher_of(r.name).predicts_class]
    baselines = [r for r in rows if r not in siamese]
    if not siamese or not baselines:
        return []
    best, rival = max(siamese, key=lambda r: r.mean), max(baselines, key=lambda r: r.mean)
    diff = np.subtract(best.values, rival.values)
    wins, losses = int(np.sum(diff > 0)), int(np.sum(diff < 0))
    lines = [f"- best Siamese row {best.name} ({best.mean:.2f}%) minus best baseline row {rival.name} "
             f"({rival.mean:.2f}%), per partition: {', '.join(f'{d:+.2f}' for d in diff)}; "
             f"mean {diff.mean():+.2f} ± {np.std(diff, ddof=1) if len(diff) > 1 else 0.0:.2f} points."]
    if len(diff) > 1:
        t_p = ttest_rel(best.values, rival.values).pvalue if np.ptp(diff) > 1e-9 else float("nan")
        sign_p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
        lines.append(f"- paired t-test p = {t_p:.3g}; sign test (higher on {wins}, lower on {losses} of "
                     f"{len(diff)} partitions) p = {sign_p:.3g}.")
    return lines


def network_rows_comparison(rows: list[Row], primary: str) -> list[str]:
    """Every row with a trained network (alone, built on, fused) against the best baseline row (by
    mean), partition by partition: the differences, their mean and standard deviation, a paired
    t-test, a two-sided sign test, and the t-test's p-value Holm-adjusted over those rows. The
    ``primary`` row comes first."""
    from scipy.stats import binomtest, ttest_rel

    networks = sorted((r for r in rows if is_network(r.name)), key=lambda r: r.name != primary)
    baselines = [r for r in rows if not is_network(r.name)]
    if not networks or not baselines:
        return []
    rival = max(baselines, key=lambda r: r.mean)
    tests = []
    for row in networks:
        diff = np.subtract(row.values, rival.values)
        t_p = ttest_rel(row.values, rival.values).pvalue if len(diff) > 1 and np.ptp(diff) > 1e-9 else float("nan")
        tests.append((row, diff, t_p))
    holm = _holm([t_p for _, _, t_p in tests])
    lines = []
    for (row, diff, t_p), adjusted in zip(tests, holm):
        wins, losses = int(np.sum(diff > 0)), int(np.sum(diff < 0))
        role = " (the recipe's primary row, chosen on validation classes)" if row.name == primary else ""
        line = (f"- {row.name}{role} ({row.mean:.2f}%) minus best baseline row {rival.name} ({rival.mean:.2f}%), "
                f"per partition: {', '.join(f'{d:+.2f}' for d in diff)}; "
                f"mean {diff.mean():+.2f} ± {np.std(diff, ddof=1) if len(diff) > 1 else 0.0:.2f} points")
        if len(diff) > 1:
            sign_p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
            verdict = ("significant" if adjusted < 0.05 else "not significant") if np.isfinite(adjusted) else "no test"
            line += (f"; paired t-test p = {t_p:.3g}; sign test (higher on {wins}, lower on {losses} of {len(diff)} "
                     f"partitions) p = {sign_p:.3g}")
            if len(tests) > 1:
                line += f"; Holm-adjusted over the {len(tests)} rows p = {adjusted:.3g}"
            line += f": {verdict} at the 5 % level"
        lines.append(line + ".")
    return lines


def _holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), np.nan)
    order = finite[np.argsort(p[finite])]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def comparison_lines(rows: list[Row]) -> list[str]:
    """How each Siamese row fares against the baseline rows on the same input, partition by partition."""
    by_name = {row.name: row for row in rows}
    lines = []
    for row in rows:
        if not matcher_of(row.name).is_siamese:
            continue
        suffix = "-als" if parse_method(row.name)[1] else ""
        for other in (f"nn-l2{suffix}", f"nn-cosine{suffix}", f"lmnn{suffix}", f"cnn{suffix}", f"cnn-aug{suffix}"):
            if other not in by_name:
                continue
            diff = np.subtract(row.values, by_name[other].values)
            wins = int(np.sum(diff > 0))
            verdict = "better" if diff.mean() > 0 else "worse" if diff.mean() < 0 else "equal"
            lines.append(f"- {row.name} vs {other}: {verdict} by {abs(diff.mean()):.2f} accuracy points on average "
                         f"({row.mean:.2f}% vs {by_name[other].mean:.2f}%); higher on {wins} of {len(diff)} partitions.")
    return lines


def _split_and_test(plan) -> tuple[str, str]:
    """The header's sentences on how classes are split and what is tested."""
    s, data, partitions = plan.recipe.settings, plan.dataset, plan.partitions
    summaries = [p.summary() for p in partitions]
    eligible = int(np.sum(data.class_counts() >= s.min_spectra_per_class))
    refs = summaries[0]["references"]
    distractor_text = (f"one reference per test class plus {refs - summaries[0]['test_classes']} distractor "
                       f"references (the single spectrum of every class with fewer than {s.min_spectra_per_class})"
                       if s.distractors else "one random reference spectrum per test class, no distractors")
    queries = [x["queries"] for x in summaries]
    if s.classes == "seen":
        split = (f"{eligible} classes with >= {s.min_spectra_per_class} spectra: {summaries[0]['validation_classes']} "
                 f"are held out whole for early stopping, the other {summaries[0]['train_classes']} are trained on "
                 f"(fractions {list(s.fractions)}), in each of {len(partitions)} random partitions.")
        test = (f"Test: one random spectrum of every training class is held out as its query "
                f"({min(queries)}-{max(queries)} per partition); the training spectra ({refs} per partition) are the "
                "references, a query takes the class of its most similar one; the CNN predicts a training class. "
                "All methods share the partitions.")
    else:
        split = (f"{eligible} classes with >= {s.min_spectra_per_class} spectra are split into "
                 f"{summaries[0]['train_classes']} training / {summaries[0]['validation_classes']} validation / "
                 f"{summaries[0]['test_classes']} test classes (fractions {list(s.fractions)}) in each of "
                 f"{len(partitions)} random partitions.")
        test = (f"Test: {distractor_text}; every other test spectrum ({min(queries)}-{max(queries)} per partition) is "
                "a query, classified by its most similar reference. All methods share the partitions and references.")
    return split, test


def _header(plan) -> list[str]:
    s, data, partitions = plan.recipe.settings, plan.dataset, plan.partitions
    split, test = _split_and_test(plan)
    features = {"sigmoid": "σ(CNN(x))", "none": "CNN(x)", "l2": "CNN(x)/‖CNN(x)‖"}[s.features]
    loss_class, sampler = get_loss(s.loss), SAMPLERS.get(training_sampler("siamese", s.loss))
    loss = loss_class.summary.format(**{arg: getattr(s, setting) for arg, setting in loss_class.profile_options.items()})
    loss += f", {sampler.summary}" if sampler.summary else ""
    unit = batch_unit(s.loss)
    recipe = augmentation_recipe(s.augment)
    augmented = [m for m in s.methods if is_augmented(m, s)]
    augment = (f" Augmentation of {', '.join(augmented)} (training only; every spectrum of a batch, both sides of a pair, drawn on its own): "
               f"{', '.join(recipe)} (name:probability[:options])." if augmented else "")
    ensemble = f", an ensemble of {s.networks} networks (consecutive seeds, similarities averaged)" if s.networks > 1 else ""
    cnn = (" CNN: the same layers (flattened output, no feature activation) with a softmax layer over the training "
           "classes, cross-entropy on single spectra, the same optimiser and learning-rate schedule, all the epochs "
           "(no early stopping: the validation classes are not among its classes)."
           if any(matcher_of(m).predicts_class for m in s.methods) else "")
    cnn += _combined_notes(s)
    stopping = (f"{s.epochs} epochs of batch {s.batch_size} {unit}, no early stopping (the last epoch is kept)"
                if s.early_stopping == "none" else
                f"at most {s.epochs} epochs of batch {s.batch_size} {unit}, early stopping on validation "
                f"{'pairs' if hasattr(get_loss(s.loss), 'pair_logits') else 'classes'} "
                f"({'nearest-neighbour accuracy' if s.early_stopping == 'ranking' else 'BCE'}, patience {s.patience})")
    small = ""
    if s.small_classes != "none" and s.classes == "unseen":
        learners = "every learned matcher" if s.small_classes == "all" else "the networks"
        twice = (f" ({s.loss}: such a spectrum comes twice in its batch"
                 + (", as two augmented views)" if augmented else ")")
                 if gives_single_views(get_loss(s.loss).default_sampler) else "")
        small = (f" The {len(partitions[0].small_class_index)} spectra of the classes with fewer than "
                 f"{s.min_spectra_per_class} spectra (never a validation or test class) train {learners} too{twice}.")
    return [
        plan.recipe.description,
        f"Data set: {data.name} ({len(data)} spectra, {data.n_classes} classes, {data.length} points "
        f"{data.wavenumbers[0]:g}-{data.wavenumbers[-1]:g} {data.axis}); {split}",
        test,
        f"Input: each spectrum min-max scaled to [0, 1]; -als rows first subtract an asymmetric-least-squares "
        f"baseline (pybaselines asls, lam={s.als_lam:g}, p={s.als_p:g}).",
        f"Siamese: {s.topology} twin (features {features}), {loss}, Adam lr {s.lr:g} "
        f"halved every {s.lr_halving_epochs} epochs, {stopping}{ensemble}.{small}{augment}{cnn} "
        f"LMNN: metric-learn, k={s.lmnn_k}, {s.lmnn_max_iter} iterations at most, on {s.lmnn_pca} PCA components "
        "fitted on the training classes.",
        f"Seed {plan.options.seed}; device {plan.device}, {plan.threads} thread(s); dissim {__version__}; "
        "the command line and versions are in config.json.",
    ]


def _combined_notes(s) -> str:
    """What the header says of the matchers built on or beside the Siamese network."""
    bases = {parse_method(m)[0] for m in s.methods}
    return "".join(MATCHERS.get(name).recipe_note(s) for name in MATCHERS.names() if name in bases)


def _figures(plan, outcomes: dict) -> list[Figure]:
    s, data = plan.recipe.settings, plan.dataset
    siamese = [m for m in s.methods if matcher_of(m).is_siamese]
    partition = next((p for p in plan.partitions if p.number == FIGURE_PARTITION), None)
    if not siamese or partition is None:
        return []
    figures = []
    method = siamese[0]
    outcome = outcomes[method][plan.partitions.index(partition)]
    test = np.concatenate([partition.reference_index, partition.query_index])
    labels = data.labels[test]
    counts = {c: int(np.sum(labels == c)) for c in np.unique(labels)}
    keep = np.array([counts[c] >= s.tsne_min_spectra for c in labels])
    if "embeddings" in outcome and keep.sum() >= 6 and len(set(labels[keep])) >= 2:
        als = parse_method(method)[1]
        x_input = preprocessings(s)[als](data.spectra[test[keep]])
        views = [("input spectra (min-max" + (", ALS" if als else "") + ")", x_input),
                 (f"{method} features f(x)", outcome["embeddings"][keep])]
        n_classes = len(set(labels[keep].tolist()))
        figures.append(Figure(f"tsne-partition{partition.number}.png", "tsne", {
            "views": views, "labels": labels[keep], "class_names": data.class_names, "seed": partition.number,
            "title": f"{data.name}: unseen test classes of partition {partition.number} with >= {s.tsne_min_spectra} "
                     f"spectra ({n_classes} classes, {int(keep.sum())} spectra)"}))
    curves, marks = [], []
    unit = batch_unit(s.loss)
    for i, m in enumerate(siamese):
        outcome = outcomes[m][plan.partitions.index(partition)]
        if "history" not in outcome:
            continue
        history = json.loads(str(outcome["history"]))
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        curves.append({"label": f"{m} training {unit}", "x": epochs, "y": history["train_loss"], "color": f"C{i}"})
        if np.isfinite(np.asarray(history["val_loss"], float)).any():  # pair losses only (BCE)
            curves.append({"label": f"{m} validation pairs", "x": epochs, "y": history["val_loss"], "color": f"C{i}",
                           "linestyle": "--"})
        if history["best_epoch"]:
            marks.append({"x": history["best_epoch"], "color": f"C{i}"})
    if curves:
        figures.append(Figure(f"training-partition{partition.number}.png", "curves", {
            "curves": curves, "vlines": marks,
            "xlabel": getattr(SAMPLERS.get(training_sampler(parse_method(method)[0], s.loss)), "epoch_label", "epoch"),
            "ylabel": getattr(get_loss(s.loss), "curve_label", "loss"),
            "title": f"Siamese training, partition {partition.number} (vertical line: epoch kept)", "size": (6.5, 4)}))
    return figures


def row_outcomes(plan, results: dict) -> dict[str, list[dict]]:
    """{row: its outcome on each partition}: the tasks' rows, and the fused rows computed from their
    members' similarities (:func:`~dissim.eval.matchers.sum_rule.fuse_similarities`)."""
    outcomes: dict[str, list[dict]] = {}
    for task in plan.tasks:  # in partition order
        for row in task.rows:
            outcomes.setdefault(row, []).append(row_outcome(results[task.key], row))
    labels = plan.dataset.labels
    for row in (m for m in plan.recipe.settings.methods if fusion_members(m)):
        members = [outcomes[m] for m in fusion_members(row)]
        outcomes[row] = []
        for i, p in enumerate(plan.partitions):
            fused = fuse_similarities([m[i]["similarity"] for m in members],
                                      [m[i]["reference_similarity"] for m in members])
            predicted = labels[p.reference_index][np.argmax(fused, axis=1)]
            accuracy, macro_f1 = accuracy_and_macro_f1(labels[p.query_index], predicted)
            outcomes[row].append({"predicted": predicted, "accuracy": accuracy, "macro_f1": macro_f1})
    return outcomes


def build_report(plan, results: dict) -> Report:
    s, data = plan.recipe.settings, plan.dataset
    outcomes = row_outcomes(plan, results)
    numbers = tuple(p.number for p in plan.partitions)
    accuracy = RowTable(tuple(Row(m, tuple(float(o["accuracy"]) for o in outcomes[m]),
                                  kind="member" if is_network(m) else "baseline")
                              for m in s.methods), numbers, column="partition", bold_best=True)
    macro_f1 = RowTable(tuple(Row(m, tuple(float(o["macro_f1"]) for o in outcomes[m])) for m in s.methods),
                        numbers, column="partition", bold_best=True)
    sections = [Section(accuracy, heading="Accuracy (%) of one-shot matching on unseen classes" if s.classes == "unseen"
                        else "Accuracy (%) of matching held-out spectra of seen (training) classes"),
                Section(macro_f1, heading="Macro-F1 (%) (averaged over the test classes that have queries)")]
    if s.primary:  # every row with a network, the one chosen on validation classes first
        paired = network_rows_comparison(list(accuracy.rows), s.primary)
        heading = "Paired comparison: the rows with a network against the best baseline row"
    else:
        paired = paired_comparison(list(accuracy.rows))
        heading = "Paired comparison: best Siamese row against best baseline row"
    if paired:
        sections.append(Section(tuple(paired), heading=heading))
    comparison = comparison_lines(list(accuracy.rows))
    if comparison:
        sections.append(Section(tuple(comparison),
                                heading="Siamese against the baselines (same partitions, same references)"))
    scores = {m: {key: value for p, o in zip(plan.partitions, outcomes[m])
                  for key, value in ((f"partition_{p.number}_predicted", o["predicted"]),
                                     (f"partition_{p.number}_query_index", p.query_index),
                                     (f"partition_{p.number}_reference_index", p.reference_index))}
              for m in s.methods}
    figures = _figures(plan, outcomes)
    config = {
        "dataset": {"name": data.name, "spectra": len(data), "classes": data.n_classes, "points": data.length,
                    "axis": [float(data.wavenumbers[0]), float(data.wavenumbers[-1])], "axis_unit": data.axis,
                    "fingerprint": data.fingerprint, "protocol": data.protocol, "provenance": data.provenance,
                    "eligible_classes": int(np.sum(data.class_counts() >= s.min_spectra_per_class)),
                    "notes": data.notes},
        "partitions": [dict(p.summary(), test_classes_names=[data.class_names[c] for c in p.test_classes])
                       for p in plan.partitions],
        "device": plan.device, "threads": plan.threads,
        "results": {m: {"accuracy": [float(o["accuracy"]) for o in outcomes[m]],
                        "macro_f1": [float(o["macro_f1"]) for o in outcomes[m]],
                        **({"seconds": [round(float(o["seconds"]), 2) for o in outcomes[m]]}
                           if not fusion_members(m) else {"fusion_of": fusion_members(m)})} for m in s.methods},
        "siamese_training": {m: [{k: v for k, v in json.loads(str(o["history"])).items() if k != "lr"}
                                 for o in outcomes[m] if "history" in o]
                             for m in s.methods if matcher_of(m).is_siamese},
        "figures": [f.name for f in figures],
    }
    return Report(title=f"{data.name} · {plan.recipe.name}", header=[h for h in _header(plan) if h],
                  sections=sections, csv={"table.csv": accuracy, "table-macro-f1.csv": macro_f1}, scores=scores,
                  figures=figures, config=config)
