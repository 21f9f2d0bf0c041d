"""The ensemble protocol (Nanni et al. 2021): Siamese members on folds, fused into the paper's tables.

Plan: one task per (training unit, fold) (:mod:`.members`), keyed by everything that determines
it; report: every member and the recipe's fusions (sum rule of z-scored SVM scores) per fold, the
recipe's table layout, score files and figures (:mod:`.report`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...data import ImageSet
from ...data.preprocess import HASC_BORDER, check_preprocess_fits, preprocess_to_cache
from ...errors import UserError
from ...eval.report import count
from ...nets import Topology, get_topology
from ...nets.pretrained import pretrained_info, resolve_weights
from ...nets.table import pretrained_topology
from ...space.prototypes import check_k_per_class
from ...storage import file_digest
from ...train import get_loss
from ...train.budget import check_training_fits
from ...train.throughput import Workload
from ..base import PROTOCOLS, RECIPE_FLAGS, Protocol, RunOptions
from . import recipe as ensemble_recipe
from .baselines import (
    BASELINES,
    FROZEN_NETWORK,
    FROZEN_PRECISION,
    BaselineTask,
    FrozenBaselineTask,
    frozen_baseline_name,
    frozen_features_to_cache,
)
from .members import (
    CnnMember,
    CnnTask,
    EnsemblePlan,
    UnitTask,
    baseline_size,
    plan_members,
    plan_units,
    unit_of,
)
from .recipe import CnnSettings, EnsembleRecipe
from .report import build_report
from .scores import results_from_folder
from .selection import check_fusions


class EnsembleProtocol(Protocol, name="ensemble", default_dataset="digits", cache_folder="members",
                       data_kind=ImageSet, data_needed="an image data set (for spectra use --pipeline oneshot)",
                       build_report=build_report, exports=("mat",)):
    """Members (topology x method x space x k) trained per fold, scored by SVMs, fused by the sum rule."""

    sections = ensemble_recipe.SECTIONS
    flags = frozenset(RECIPE_FLAGS)  # every one of them
    parse = staticmethod(ensemble_recipe.parse)
    apply_flags = staticmethod(ensemble_recipe.apply_flags)
    results_from_folder = staticmethod(results_from_folder)

    def plan(self, recipe: EnsembleRecipe, dataset, options: RunOptions) -> EnsemblePlan:
        """Members, units, folds and the (unit, fold) tasks with their cache keys; checks before any work."""
        folds = checked_folds(recipe, dataset)
        topologies, weight_digests, sizes = checked_topologies(recipe, dataset)
        threads = options.compute.threads
        units = plan_units(recipe)
        check_resources(recipe, dataset, topologies, sizes, units, folds, options.device)
        trainings = unit_tasks(recipe, dataset, options, units, folds, topologies, weight_digests, sizes, threads)
        cnn_trainings = cnn_tasks(recipe, dataset, options, folds, sizes, threads)
        pixel = pixel_baseline_tasks(dataset, options, folds, baseline_size(sizes, recipe.topologies), threads)
        frozen = frozen_baseline_tasks(recipe, dataset, options, folds, threads)
        members = plan_members(recipe)
        check_fusions(recipe, members, {m.name for m in members} | set(BASELINES) | {frozen_baseline_name()})
        return EnsemblePlan(recipe, dataset, options, members, units, folds, trainings, cnn_trainings, pixel, frozen,
                            sizes)

    def prepare(self, plan: EnsemblePlan, tasks: list) -> list:
        """Workers memory-map the cached preprocessed arrays rather than receive them."""
        inputs = {(t.input_size, t.hasc) for t in tasks}
        paths = {(size, hasc): str(preprocess_to_cache(plan.dataset, size, hasc)) for size, hasc in inputs}
        features = {}

        def frozen_features(t) -> str:
            if t.input_size not in features:
                features[t.input_size] = frozen_features_to_cache(
                    plan.dataset, t.network, t.input_size, t.images_path, t.weights, plan.options.device,
                    FROZEN_PRECISION)
            return features[t.input_size]

        tasks = [t.prepared(paths[(t.input_size, t.hasc)], frozen_features) for t in tasks]
        return tasks

    def workloads(self, plan: EnsemblePlan) -> list[Workload]:
        """The networks the plan trains, each on every planned fold: one per Siamese training unit
        (iterations x batch x images per pair or triplet; then every image and prototype embedded once)
        and one per eCNN network (epochs x training images; then the population batch-norm pass and the
        scores of the training and test images)."""
        p, data, n = plan.recipe.profile, plan.dataset, len(plan.folds)
        works = []
        for unit in plan.units:
            task = next(t for t in plan.trainings if t.unit == unit)
            arity, pretrained = get_loss(unit.method.loss).arity, task.topology.pretrained_network is not None
            works.append(Workload(
                label=unit.name, topology=task.topology, channels=data.channels, input_size=task.input_size,
                precision=p.pretrained_precision if pretrained else p.precision, count=n,
                train_images=p.iterations * p.batch_size * arity, step_images=p.batch_size * arity,
                forward_images=len(data) + sum(unit.ks) * data.n_classes, rate_name=task.topology.name,
                pretrained=pretrained))
        c = plan.recipe.ecnn
        for network in c.networks:
            tasks = [t for t in plan.cnn_trainings if t.network == network]
            train = round(np.mean([len(t.train_index) for t in tasks]))
            test = round(np.mean([len(t.test_index) for t in tasks]))
            works.append(Workload(
                label=f"ecnn-{network}", topology=pretrained_topology(network, init="random"),
                channels=data.channels, input_size=tasks[0].input_size, precision=tasks[0].precision, count=n,
                train_images=c.epochs * train, step_images=c.batch_size, forward_images=2 * train + test,
                rate_name=network, pretrained=True))
        return works

    def describe(self, plan: EnsemblePlan) -> str:
        """The member list with its count and cost (for --dry-run).

        Cost per fold of the network a member uses (:meth:`workloads`): training = 3 forward passes
        (forward and backward) per training image, embedding and scoring = one per image; FLOPs counted
        from the layer tables. Members that share a network share its cost.
        """
        p, data, c = plan.recipe.profile, plan.dataset, plan.recipe.ecnn
        folds = count(len(plan.folds), "fold")
        siamese, tuned = len(plan.trainings), len(plan.cnn_trainings)
        trainings = (f"{count(siamese + tuned, 'training')}: {siamese} Siamese ({p.iterations} iterations, batch "
                     f"{p.batch_size}, {'one network shared across k' if p.share_network else 'a fresh network per k'})"
                     + (f" and {tuned} eCNN fine-tunes ({c.epochs} epochs, batch {c.batch_size})" if tuned else ""))
        lines = [f"pipeline {plan.recipe.name} on {data.name} ({len(data)} images, {data.n_classes} classes, {folds}): "
                 f"{count(len(plan.members), 'member')} from {count(len(plan.units) + len(c.networks), 'network')} "
                 f"per fold; "
                 f"{trainings}",
                 f"{'member':<34} {'network':<28} {'input':>5} {'TFLOP per fold: train':>21} {'embed':>9}"]
        works = {w.label: w for w in self.workloads(plan)}
        for member in plan.members:
            w = works[member.name if isinstance(member, CnnMember) else unit_of(member, plan.units).name]
            network = f"{member.network} fine-tuned" if isinstance(member, CnnMember) else w.label
            lines.append(f"{member.name:<34} {network:<28} {w.input_size:>5} "
                         f"{3 * w.forward_flops * w.train_images / 1e12:>21,.1f} "
                         f"{w.forward_flops * w.forward_images / 1e12:>9,.2f}")
        lines.append(f"baselines on the same folds: {', '.join(BASELINES)} on the pixels at "
                     f"{plan.baseline_size}x{plan.baseline_size}")
        frozen = plan.frozen_baselines[:1]
        lines += [f"  and {t.names[0]}: frozen {t.network} features at {t.input_size}x{t.input_size}" for t in frozen]
        total = sum(w.flops for w in works.values())
        spread = (f"over all {folds} ({_flop_amount(total / len(plan.folds))} per fold)" if len(plan.folds) > 1
                  else f"for {folds}")
        lines.append(f"total: {count(len(plan.members), 'member')}, {count(siamese + tuned, 'training')}, about "
                     f"{_flop_amount(total)} {spread}; the member lines give each network's cost per fold, shared by "
                     "the members it serves")
        return "\n".join(lines)



def check_resources(recipe: EnsembleRecipe, dataset, topologies: dict, sizes: dict, units, folds, device: str) -> None:
    """Every training of the plan and every preprocessed array fits in memory (before any work)."""
    p, train_items = recipe.profile, max(len(dataset.folds[f - 1][0]) for f in folds)
    inputs = set(sizes.values()) | {max(recipe.ecnn.input_size, pretrained_info(n).min_size) for n in recipe.ecnn.networks}
    for size in sorted(inputs):
        check_preprocess_fits(dataset, size)
    for topology, arity in sorted({(u.topology, get_loss(u.method.loss).arity) for u in units}):
        check_training_fits(topologies[topology], dataset.channels, sizes[topology], batch_size=p.batch_size,
                            arity=arity, steps=p.iterations, items=train_items, device=device,
                            what=f"training {topology} at {sizes[topology]}x{sizes[topology]} (batch {p.batch_size}, "
                                 f"{p.iterations:,} iterations)")


def _flop_amount(flops: float) -> str:
    return f"{flops / 1e15:,.1f} PFLOP" if flops >= 1e14 else f"{flops / 1e12:,.1f} TFLOP"


def frozen_baseline_weights(cnn: CnnSettings) -> Path | None:
    """The ImageNet weights of the frozen-feature baseline (``--cnn-weights lite0=PATH`` or the packaged
    ones), or None where the ``ecnn`` extra is not installed: the row is then left out and the table
    says why. Always ImageNet weights: ``--cnn-init random`` is for the networks that are trained."""
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        return None
    try:
        return resolve_weights(FROZEN_NETWORK, cnn.weights_for(FROZEN_NETWORK), "pretrained")
    except UserError:
        if cnn.weights_for(FROZEN_NETWORK):
            raise  # a file the user named is missing: say so
        return None


def with_pretrained_options(topology: Topology, recipe: EnsembleRecipe) -> tuple[Topology, str | None]:
    """The topology with the run's pretrained-weights settings ([ecnn] init and weights, --cnn-init and
    --cnn-weights) written into its pretrained layer, so that workers build what the plan checked, and
    the content digest of the weights it loads (None: no pretrained layer; "random": none loaded)."""
    network = topology.pretrained_network
    if network is None:
        return topology, None
    layer, cnn = dict(topology.layers[0]), recipe.ecnn
    weights = cnn.weights_for(network) or layer.get("weights") or ""
    layer["init"] = cnn.init if cnn.init == "random" else layer.get("init", "pretrained")
    if weights:
        layer["weights"] = weights
    path = resolve_weights(network, weights or None, layer["init"])
    return replace(topology, layers=(layer, *topology.layers[1:])), file_digest(path) if path else "random"


def checked_folds(recipe: EnsembleRecipe, dataset) -> list[int]:
    """The folds to run; a UserError where a fold cannot train every member and baseline."""
    if dataset.n_classes < 2:
        raise UserError(f"{dataset.name} has {dataset.n_classes} class: classification needs at least two")
    n_folds = len(dataset.folds)
    folds = list(recipe.folds) if recipe.folds else list(range(1, n_folds + 1))
    bad = [f for f in folds if not 1 <= f <= n_folds]
    if bad:
        raise UserError(f"--folds {bad}: {dataset.name} has folds 1..{n_folds}")
    kmax = max(recipe.profile.prototypes)
    for fold in folds:
        counts = np.bincount(dataset.labels[dataset.folds[fold - 1][0]], minlength=dataset.n_classes)
        worst = int(np.argmin(counts))
        if counts[worst] == 0:
            raise UserError(f"class {dataset.class_names[worst]!r} has no training images in fold {fold} (all of "
                            f"its images are in that fold's test set): every class needs training images in "
                            "every fold; add images of it to the other folds, or leave the class out")
        check_k_per_class(dataset.class_names, counts, kmax, items=f"training images in fold {fold}",
                          advice=" (--prototypes): use k <= {count}", error=UserError)
        if counts[worst] < 2:
            raise UserError(f"class {dataset.class_names[worst]!r} has 1 training image in fold {fold}: the "
                            "tuned raw-pixel SVM baseline (and any learned fusion) cross-validates within the "
                            "training fold and needs at least 2 of every class; add images of it")
    return folds


def checked_topologies(recipe: EnsembleRecipe, dataset) -> tuple[dict, dict, dict]:
    """(topology, weights digest, input size) by topology name; missing weights stop the plan, before any work."""
    topologies, weight_digests = {}, {}
    for name in recipe.topologies:
        topologies[name], weight_digests[name] = with_pretrained_options(get_topology(name), recipe)
    sizes = {}
    for name, topology in topologies.items():
        if "deeper" in recipe.spaces and topology.deeper is None:
            raise UserError(f"topology {name} names no DEEPER layer: add deeper = \"<layer>\" or use --spaces fully")
        if topology.dims != 2:
            raise UserError(f"topology {name} is {topology.dims}-D; image members need a dims = 2 table")
        sizes[name] = max(recipe.profile.input_size, topology.min_input_size(dataset.channels))
        if recipe.profile.hasc and sizes[name] <= 2 * HASC_BORDER:
            raise UserError(f"hasc: HASC mosaics need inputs larger than {2 * HASC_BORDER} pixels a side; "
                            f"{name} runs at {sizes[name]}: raise input_size or use --hasc no")
    return topologies, weight_digests, sizes


def unit_tasks(recipe: EnsembleRecipe, dataset, options: RunOptions, units, folds, topologies, weight_digests,
               sizes, threads: int) -> list:
    """One task per (unit, fold): a twin trained and its members scored."""
    return [UnitTask.planned(recipe, dataset, fold, unit, topologies[unit.topology], weight_digests[unit.topology],
                             sizes[unit.topology], options, threads) for unit in units for fold in folds]


def cnn_tasks(recipe: EnsembleRecipe, dataset, options: RunOptions, folds, sizes, threads: int) -> list:
    """One task per (eCNN network, fold); records each network's input size in ``sizes``."""
    tasks = []
    for network in recipe.ecnn.networks:
        size = sizes[f"ecnn-{network}"] = max(recipe.ecnn.input_size, pretrained_info(network).min_size)
        tasks += [CnnTask.planned(recipe.ecnn, dataset, fold, network, size, options, threads) for fold in folds]
    return tasks


def pixel_baseline_tasks(dataset, options: RunOptions, folds, baselines_at: int, threads: int) -> list:
    """The raw-pixel baselines of every fold, at side ``baselines_at``."""
    return [BaselineTask.planned(dataset, fold, options.seed, baselines_at, threads) for fold in folds]


def frozen_baseline_tasks(recipe: EnsembleRecipe, dataset, options: RunOptions, folds, threads: int) -> list:
    """The frozen-feature baseline of every fold where its weights exist (none otherwise)."""
    frozen = frozen_baseline_weights(recipe.ecnn)
    if frozen is None:
        return []
    frozen_at = pretrained_info(FROZEN_NETWORK).native_size  # its strongest input, whatever the eCNN's
    return [FrozenBaselineTask.planned(dataset, fold, options.seed, frozen, frozen_at, threads) for fold in folds]


PROTOCOLS.register("ensemble", EnsembleProtocol(), summary="Siamese dissimilarity-space members on folds, "
                   "SVM scores fused by the sum rule (Nanni et al. 2021)")

