"""What an ensemble run reports: member and fusion rows, the recipe's grid, score files and figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..._version import __version__
from ...eval.fusion import ZScore, forward_selection, sum_rule, weighted_sum
from ...eval.inner import INNER_FOLDS
from ...eval.metrics import accuracy
from ...eval.report import Figure, Grid, Report, Row, RowTable, Section
from ...nets.pretrained import ECNN_EXTRA
from .baselines import (
    FROZEN_C,
    TUNED_C,
    TUNED_GAMMA_FACTORS,
    baseline_accuracy,
    frozen_baseline_name,
)
from .members import CnnMember, EnsemblePlan, Member, attempts_of, score_key, unit_of
from .recipe import ECNN_METHOD, EnsembleRecipe, Profile, Selection
from .row_scores import row_scores
from .scores import score_files


class MemberFold(NamedTuple):
    """One member's scores on one fold."""

    train: np.ndarray  # the SVM's scores of the training items (the sum rule's z-score statistics)
    test: np.ndarray
    labels: np.ndarray  # of the test items
    inner: np.ndarray | None = None  # out-of-fold scores of the training items (what a learned fusion reads)
    train_labels: np.ndarray | None = None


# fold scores of one member: fold -> its scores
FoldScores = dict[int, MemberFold]


@dataclass
class FusedRow:
    """A table row with what produced it: per fold, the fused test scores and labels, and the member
    weights of a learned fusion or the groups of a grouped one."""

    row: Row
    test: dict[int, tuple[np.ndarray, np.ndarray]]
    weights: dict[int, np.ndarray] | None = None
    groups: list[list] | None = None


def member_scores(plan: EnsemblePlan, results: dict) -> dict[str, FoldScores]:
    by_unit_fold = {(t.unit, t.fold): results[t.key] for t in plan.trainings}
    by_unit_fold.update({(t.network, t.fold): results[t.key] for t in plan.cnn_trainings})
    scores = {}
    for member in plan.members:
        unit = member.network if isinstance(member, CnnMember) else unit_of(member, plan.units)
        scores[member.name] = {}
        for fold in plan.folds:
            entry = by_unit_fold[(unit, fold)]
            scores[member.name][fold] = MemberFold(
                entry[score_key(member.space, member.k, "train")], entry[score_key(member.space, member.k, "test")],
                entry["test_labels"], entry.get(score_key(member.space, member.k, "inner")), entry["train_labels"])
    return scores


def fuse(members: list, scores: dict[str, FoldScores], fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fused training scores, fused test scores, test labels) of the members on one fold: the sum
    rule of their z-scored scores, each z-scored by its own training scores."""
    parts = [scores[m.name][fold] for m in members]
    zscores = [ZScore().fit(p.train) for p in parts]
    return (sum_rule([p.train for p in parts], zscores=zscores), sum_rule([p.test for p in parts], zscores=zscores),
            parts[0].labels)


def fused_groups(groups: list[list], scores: dict[str, FoldScores], fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(fused test scores, test labels) of a fusion of groups: each group fused by :func:`fuse`, then the
    groups' fused scores z-scored (by their fused training scores) and summed."""
    fused = [fuse(group, scores, fold) for group in groups]
    if len(fused) == 1:
        return fused[0][1], fused[0][2]
    return sum_rule([f[1] for f in fused], [f[0] for f in fused]), fused[0][2]


def learned_fusion(members: list, scores: dict[str, FoldScores], fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(member weights, fused test scores, test labels) of a learned fusion on one fold: weights chosen
    by :func:`~dissim.eval.fusion.forward_selection` on the members' out-of-fold scores of the training
    items (the test fold is not read), each member z-scored by those scores."""
    parts = [scores[m.name][fold] for m in members]
    if any(p.inner is None for p in parts):
        raise ValueError(f"fold {fold} has no out-of-fold scores for a learned fusion")
    weights = forward_selection([p.inner for p in parts], parts[0].train_labels)
    fused = weighted_sum([p.test for p in parts], [ZScore().fit(p.inner) for p in parts], weights)
    return weights, fused, parts[0].labels


def fused_row(name: str, members: list, scores: dict[str, FoldScores], folds: list[int],
              groups: list[list] | None = None, fusion: str = "sum") -> FusedRow:
    """Accuracy per fold of the members fused by the sum rule of their z-scored scores (of the groups'
    fused scores, with ``groups``), or with weights learned on each training fold (``fusion="learned"``)."""
    test, weights = {}, None
    if fusion == "learned":
        weights = {}
        for fold in folds:
            weights[fold], *test[fold] = learned_fusion(members, scores, fold)
    else:
        test = {fold: fused_groups(groups or [members], scores, fold) for fold in folds}
    row = Row(name, tuple(accuracy(*test[fold]) for fold in folds),
              kind="member" if len(members) == 1 else "fusion", members=tuple(members))
    return FusedRow(row, test, weights, groups)


def baseline_rows(plan: EnsemblePlan, results: dict) -> list[Row]:
    """One row per baseline: its accuracy on each fold of the plan (never fused)."""
    by_name_fold = {(name, t.fold): results[t.key] for t in plan.baselines for name in t.names}
    return [Row(name, tuple(baseline_accuracy(by_name_fold[(name, fold)], name) for fold in plan.folds),
                kind="baseline") for name in plan.baseline_names]


def _baselines_config(plan: EnsemblePlan, results: dict) -> dict:
    """What config.json records of the baselines: names, inputs, cache keys, grids and each fold's choice."""
    pixel, frozen = plan.pixel_baselines, plan.frozen_baselines
    config = {"methods": plan.baseline_names, "input_size": plan.baseline_size, "keys": [t.key for t in plan.baselines],
              "raw-svm-tuned": {"grid": {"C": list(TUNED_C), "gamma_times_scale": list(TUNED_GAMMA_FACTORS)},
                                "inner_folds": INNER_FOLDS, "chosen": [
                                    dict(zip(("fold", "C", "gamma", "inner_accuracy"),
                                             (t.fold, *map(float, results[t.key]["raw-svm-tuned_params"]))))
                                    for t in pixel]}}
    if frozen:
        name = frozen[0].names[0]
        config[name] = {"network": frozen[0].network, "input_size": frozen[0].input_size,
                        "grid": {"C": list(FROZEN_C)}, "inner_folds": INNER_FOLDS, "chosen": [
                            dict(zip(("fold", "C", "inner_accuracy"), (t.fold, *map(float, results[t.key][f"{name}_params"]))))
                            for t in frozen]}
    return config


def _baselines_text(plan: EnsemblePlan, baselines: list[Row]) -> str:
    frozen = next(iter(plan.frozen_baselines), None)
    text = ("Baselines on the same folds: " + ", ".join(f"{r.name} {r.mean:.2f}" for r in baselines)
            + f" (scikit-learn's SVC(), an RBF SVC with C and gamma chosen by {INNER_FOLDS}-fold cross-validation "
            f"on each training fold, and 1-NN, on the {plan.baseline_size}-pixel inputs scaled to [0, 1]")
    if frozen is not None:
        return text + (f"; and logistic regression, C chosen the same way, on the standardised pooled ImageNet "
                       f"features of a frozen {frozen.network} at {frozen.input_size}x{frozen.input_size}).")
    return text + f"; {frozen_baseline_name()} is not computed: it needs {ECNN_EXTRA})."


def default_fusions(recipe: EnsembleRecipe) -> list[Selection]:
    """Without a recipe layout: per (topology, method), FULLY+DEEPER over all k, and per space over all
    k; with eCNN members, their fusion (eCNN)."""
    out = [Selection(ECNN_METHOD, methods=(ECNN_METHOD,))] if len(recipe.ecnn.networks) > 1 else []
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


def table_cells(recipe: EnsembleRecipe) -> list[list[Selection]]:
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


def build_rows(recipe: EnsembleRecipe, members: list[Member], scores,
               folds: list[int]) -> tuple[list[Row], Grid | None, dict[str, FusedRow]]:
    """(member and fusion rows for the CSV, the grid of table.md or None, each row with what produced it)."""
    fused = {m.name: fused_row(m.name, [m], scores, folds) for m in members}

    def add(selection: Selection) -> Row | None:
        if selection.groups:
            groups = [[m for m in members if g.matches(m)] for g in selection.group_selections()]
            if not all(groups):  # a group without members: the cell is empty, not a fusion of fewer groups
                return None
            chosen = list(dict.fromkeys(m for g in groups for m in g))
        else:
            chosen, groups = [m for m in members if selection.matches(m)], None
        if not chosen:
            return None
        if selection.name not in fused:
            fused[selection.name] = fused_row(selection.name, chosen, scores, folds, groups, selection.fusion)
        return fused[selection.name].row

    grid = None
    if recipe.table is not None:
        cells = table_cells(recipe)
        values = [[add(cell) for cell in line] for line in cells]
        several = len(recipe.table.columns) > 1
        grid = Grid(row_names=tuple(line[0].name.split(" / ")[0] if several else line[0].name for line in cells),
                    column_names=tuple(c.name for c in recipe.table.columns),
                    means=tuple(tuple(v.mean if v is not None else None for v in line) for line in values))
    for selection in recipe.fusions or ([] if recipe.table is not None else default_fusions(recipe)):
        add(selection)
    return [f.row for f in fused.values()], grid, fused


def _profile_text(profile: Profile, sizes: dict[str, int]) -> str:
    inputs = ", ".join(f"{t} at {s}x{s}" for t, s in sizes.items())
    return (f"{inputs}; {profile.iterations} iterations, batch {profile.batch_size}, lr {profile.lr:g}, "
            f"betas {tuple(profile.betas)}, k per class {list(profile.prototypes)}, "
            f"SVC(C={profile.svm_C:g}, gamma={profile.svm_gamma:g})")


def _mean_curve(label: str, fold_results: list[dict]) -> dict:
    """One training's loss per step, averaged over its folds and smoothed over a 30th of its length."""
    curve = np.mean([r["loss_history"] for r in fold_results], axis=0)
    window = max(1, len(curve) // 30)
    smooth = np.convolve(curve, np.ones(window) / window, mode="valid")
    return {"label": label, "x": np.arange(len(smooth)) + window, "y": smooth}


def _figures(plan: EnsemblePlan, rows: list[Row], fused: dict[str, FusedRow], results) -> list[Figure]:
    fusions = [r for r in rows if len(r.members) > 1] or [r for r in rows if r.members]
    best = max(fusions, key=lambda r: r.mean)
    n = plan.dataset.n_classes
    confusion = np.zeros((n, n), dtype=int)
    for fold in plan.folds:
        scores, labels = fused[best.name].test[fold]
        np.add.at(confusion, (labels, np.argmax(scores, axis=1)), 1)
    panels = {}  # one panel per loss: BCE, triplet and cross-entropy values have their own scales
    for unit in plan.units:
        panels.setdefault(unit.method.loss, []).append(
            _mean_curve(unit.name, [results[t.key] for t in plan.trainings if t.unit == unit]))
    for network in plan.recipe.ecnn.networks:  # a fine-tune's steps are its epochs x batches
        panels.setdefault("cross-entropy (eCNN)", []).append(
            _mean_curve(f"ecnn-{network}", [results[t.key] for t in plan.cnn_trainings if t.network == network]))
    return [
        Figure("confusion_best_fusion.png", "confusion", {
            "matrix": confusion, "class_names": plan.dataset.class_names,
            "title": f"best fusion: {best.name}\n{best.mean:.2f}% mean over folds; counts over all test folds"}),
        Figure("accuracy.png", "bars", {
            "rows": rows, "xlabel": "accuracy (%), mean ± std over folds (blue: members, orange: fusions, "
                                    "grey: baselines)"}),
        Figure("training_loss.png", "curves", {
            "panels": [{"title": f"{loss} loss", "curves": curves, "ylabel": "mean over folds, smoothed"}
                       for loss, curves in panels.items()], "xlabel": "iteration"}),
    ]


def _ecnn_text(plan: EnsemblePlan) -> str:
    c = plan.recipe.ecnn
    if not c.networks:
        return ""
    precision = {t.network: t.precision for t in plan.cnn_trainings}
    inputs = ", ".join(f"{n} at {plan.sizes['ecnn-' + n]}x{plan.sizes['ecnn-' + n]} ({precision[n]})" for n in c.networks)
    start = "ImageNet weights" if c.init == "pretrained" else "random initialisation (--cnn-init random)"
    return (f"eCNN: {inputs}, fine-tuned from {start}: {c.epochs} epochs, batch {c.batch_size}, SGD lr {c.lr:g} "
            f"momentum {c.momentum:g}, last layer x{c.last_layer_lr_factor:g}, augmentation {c.augmentation}; "
            "softmax scores.")


def _reruns_text(plan: EnsemblePlan, results: dict) -> str:
    reran = [(t, attempts_of(results[t.key])) for t in plan.trainings]
    # without reruns (max_reruns = 0) the rule is not applied: config.json still records "converged"
    reran = [(t, a) for t, a in reran if a["reruns"] or a["batch_size"] != t.profile.batch_size
             or (not a["converged"] and t.profile.max_reruns > 0)]
    if not reran:
        return ""
    def outcome(a: dict, max_reruns: int) -> str:
        if a["converged"]:
            return f"converged after {a['reruns']} rerun(s)"
        if max_reruns == 0:
            return "did not converge (max_reruns = 0)"
        return f"never converged in {a['reruns']} rerun(s) (the last attempt kept)"

    parts = [f"{t.label} {outcome(a, t.profile.max_reruns)}"
             f"{'' if a['batch_size'] == t.profile.batch_size else ', batch ' + str(a['batch_size'])}" for t, a in reran]
    return "Convergence (rule in config.json): " + "; ".join(parts) + "."


def _headline(name: str, rows: list[Row], baselines: list[Row]) -> dict | None:
    """The recipe's headline row against the best baseline row: the numbers and one sentence."""
    row = next((r for r in rows if r.name == name), None) if name else None
    if row is None:
        return None
    verdict = {"row": row.name, "mean": round(row.mean, 2)}
    if not baselines:
        return {**verdict, "text": f"Headline row (named in the recipe before any run): {row.name}, {row.mean:.2f} %."}
    best = max(baselines, key=lambda b: b.mean)
    margin = round(row.mean, 2) - round(best.mean, 2)
    outcome = (f"above it by {margin:.2f} points" if margin > 0 else f"below it by {-margin:.2f} points" if margin < 0
               else "level with it")
    return {**verdict, "best_baseline": best.name, "best_baseline_mean": round(best.mean, 2),
            "margin": round(margin, 2), "beats_every_baseline": margin > 0,
            "text": f"Headline row (named in the recipe before any run): {row.name}, {row.mean:.2f} %; the best "
                    f"baseline row, {best.name}, {best.mean:.2f} %: {outcome}."}


LEARNED_TEXT = ("Rows whose recipe entry says fusion = \"learned\" weigh their members instead of summing them: "
                "greedy forward selection with replacement on out-of-fold scores of each training fold "
                f"({INNER_FOLDS}-fold cross_val_predict of each member's SVM on its dissimilarity vectors; of a "
                "logistic regression on the fine-tuned network's features for an eCNN); the test fold is never "
                "read. The weights of each fold are in config.json.")


def _learned_config(learned: dict[str, FusedRow], scores: dict[str, FoldScores], folds: list[int]) -> dict:
    """The weights each learned fusion chose per fold, and per member its mean out-of-fold accuracy on
    the training folds beside its test accuracy (how optimistic the scores the weights came from are)."""
    if not learned:
        return {}
    rule = (f"greedy forward selection with replacement (Caruana et al. 2004) on {INNER_FOLDS}-fold "
            "out-of-fold scores of each training fold, z-scored per member; weights sum to 1")
    members = list(dict.fromkeys(m for f in learned.values() for m in f.row.members))
    return {"learned_fusions": {
        "rule": rule,
        "rows": {name: [{"fold": fold, "weights": {m.name: round(float(w), 6) for m, w in
                                                   zip(f.row.members, f.weights[fold]) if w}} for fold in folds]
                 for name, f in learned.items()},
        "members_out_of_fold_vs_test_accuracy": {
            m.name: {"out_of_fold": round(float(np.mean([accuracy(scores[m.name][fold].inner,
                                                                  scores[m.name][fold].train_labels)
                                                         for fold in folds])), 2),
                     "test": round(float(np.mean([accuracy(scores[m.name][fold].test, scores[m.name][fold].labels)
                                                  for fold in folds])), 2)} for m in members}}}


def build_report(plan: EnsemblePlan, results: dict) -> Report:
    recipe, data, options = plan.recipe, plan.dataset, plan.options
    scores = member_scores(plan, results)
    rows, grid, fused = build_rows(recipe, plan.members, scores, plan.folds)
    baselines = baseline_rows(plan, results)
    rows += baselines
    shared = recipe.profile.share_network
    header = [recipe.description.strip(),
              f"Data set: {data.name} ({len(data)} images, {data.n_classes} classes; {data.protocol}). "
              f"Folds: {', '.join(map(str, plan.folds))}.",
              f"Profile: {_profile_text(recipe.profile, {t: plan.sizes[t] for t in recipe.topologies})}"
              f"{'; inputs as HASC mosaics' if recipe.profile.hasc else ''}.",
              f"Networks: {'one per (topology, method), shared across k' if shared else 'a freshly trained network per k (as the paper)'}.",
              _ecnn_text(plan), _reruns_text(plan, results),
              f"Seed {options.seed}; dissim {__version__}; the command line, device and versions are in config.json."]
    table = RowTable(tuple(rows), tuple(plan.folds), column="fold")
    sections = [Section(table)]
    learned = {name: f for name, f in fused.items() if f.weights is not None}
    fusion_text = (LEARNED_TEXT,) if learned else ()
    verdict = _headline(recipe.headline, rows, baselines)
    headline_text = (verdict["text"],) if verdict else ()
    if grid is not None:
        intro = (*headline_text, "Mean accuracy (%) over the folds; each cell fuses (sum rule of z-scored SVM "
                 "scores) the members its row and column select.", *fusion_text, _baselines_text(plan, baselines))
        sections = [Section(grid, intro=intro), Section(table, heading="All members, fusions and baselines")]
    else:
        sections = [Section(table, intro=(*headline_text, *fusion_text, _baselines_text(plan, baselines)))]
    config = {"dataset": {"folds": plan.folds}, "input_sizes": plan.sizes, "members": [m.name for m in plan.members],
              "trainings": [{"unit": t.unit.name, "fold": t.fold, "key": t.key, **attempts_of(results[t.key])}
                            for t in plan.trainings],
              "convergence_rule": f"mean loss of the last 10% of steps <= {recipe.profile.converge_ratio:g} x the "
                                  f"first 10%; at most {recipe.profile.max_reruns} reruns, the last attempt kept",
              "ecnn_trainings": [{"network": t.network, "fold": t.fold, "key": t.key} for t in plan.cnn_trainings],
              "baselines": _baselines_config(plan, results),
              **({"headline": {k: v for k, v in verdict.items() if k != "text"}} if verdict else {}),
              **_learned_config(learned, scores, plan.folds),
              "threads_per_training": plan.tasks[0].threads if plan.tasks else None,
              "device": plan.tasks[0].device if plan.tasks else None}
    return Report(title=f"{data.name} · {recipe.name}", header=[h for h in header if h], sections=sections,
                  csv={"table.csv": table}, scores=score_files(plan, scores, results),
                  figures=_figures(plan, rows, fused, results), config=config,
                  row_scores=row_scores(plan, fused.values(), scores) if plan.options.export else [])
