"""The one-shot protocol (Liu et al. §3.1): match spectra of classes never seen in training.

For each random class partition (:func:`dissim.data.splits.make_partitions`) and each method of
the recipe, the matcher learns on the training classes (validation classes serve the Siamese
network's early stopping), then every query spectrum of the test classes takes the class of its
most similar reference. All methods share the partitions and the references; a method with the
suffix ``-als`` runs on baseline-corrected spectra. Each (partition, method) is one task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..._version import __version__
from ...data.spectra import SpectraSet
from ...data.splits import Partition, make_partitions, make_seen_partitions
from ...errors import UserError
from ...eval.matchers import MATCHERS
from ...eval.report import count
from ...nets import get_topology
from ...storage import stable_hash
from ...train import augmentation_recipe, get_loss
from ...train.budget import check_training_fits
from ..base import PROTOCOLS, Protocol, RunOptions, task_seed
from ..settings_recipe import SettingsProtocol, SettingsRecipe
from . import settings as oneshot_settings
from .report import build_report
from .settings import (
    FIGURE_PARTITION,
    FUSION,
    OneShotSettings,
    batch_unit,
    fusion_members,
    gives_single_views,
    is_augmented,
    network_method,
    parse_method,
    preprocessings,
    trains_network,
    training_sampler,
)
from .task import MatchTask

CACHE_VERSION = 4


@dataclass
class OneShotPlan:
    recipe: SettingsRecipe
    dataset: SpectraSet
    options: RunOptions
    partitions: list[Partition]
    tasks: list[MatchTask]
    device: str
    threads: int


def matcher_params(matcher: str, s: OneShotSettings, seed: int, device: str, progress: bool,
                   augment: bool = False, small_classes: bool = False) -> dict:
    """The recipe settings each matcher takes (the protocol splits classes itself: no validation_fraction);
    ``augment``: whether a network trains with the recipe's augmentation; ``small_classes``: whether it
    also trains on the spectra of classes too small to split. What a matcher reads from the settings it
    declares (``recipe_settings``, ``trains_network``); a loss, its options and sampler."""
    cls = MATCHERS.get(matcher)
    params = {}
    if cls.trains_network:
        params = {"topology": s.topology, "batch_size": s.batch_size, "lr": s.lr,
                  "lr_halving_epochs": s.lr_halving_epochs, "patience": s.patience,
                  "augment": list(augmentation_recipe(s.augment)) if augment else False, "activation": "none",
                  "validation_fraction": 0.0, "device": device, "precision": s.precision, "random_state": seed,
                  "verbose": progress}
    params.update(recipe_values(matcher, s))
    if not cls.trains_network and "random_state" in cls().get_params():
        params["random_state"] = seed % 2**31
    if "loss" in params:
        params.update(loss_params(matcher, s, small_classes))
    return params


def recipe_values(matcher: str, s: OneShotSettings) -> dict:
    """The matcher's parameters that the recipe's settings give, as the matcher declares them."""
    return {param: getattr(s, setting) for param, setting in MATCHERS.get(matcher).recipe_settings.items()}


def loss_params(matcher: str, s: OneShotSettings, small_classes: bool) -> dict:
    """The sampler and loss options of a matcher that trains with the recipe's loss: the sampler
    (:func:`~.settings.training_sampler`); the loss's options from the settings it names; where the
    sampler can, classes of one spectrum (small classes) give two views of it."""
    sampler = training_sampler(matcher, s.loss)
    params = {"sampler": sampler}
    options = {option: getattr(s, setting) for option, setting in get_loss(s.loss).profile_options.items()}
    if options:
        params["loss_options"] = options
    if small_classes and gives_single_views(sampler):
        params["sampler_options"] = {"single_views": True}
    return params


def trains_on_small_classes(method: str, s: OneShotSettings) -> bool:
    """Whether ``method``'s matcher also learns from the spectra of the classes too small to split."""
    return s.small_classes == "all" or (s.small_classes == "networks" and trains_network(parse_method(method)[0]))


def _cache_key(data: SpectraSet, partition: Partition, method: str, s: OneShotSettings, seed: int, threads: int,
               rows: tuple[str, ...] = (), keep_similarities: bool = False) -> str:
    base, als = parse_method(method)
    payload = {"v": CACHE_VERSION, "dissim": __version__, "data": data.fingerprint, "method": method, "seed": seed,
               "classes": s.classes,
               "threads": threads,
               "partition": partition.number,
               "index": stable_hash([partition.train_index.tolist(), partition.val_index.tolist(),
                                     partition.reference_index.tolist(), partition.query_index.tolist()]),
               "rows": list(rows), "similarities": keep_similarities}
    if trains_on_small_classes(method, s) or any(trains_on_small_classes(r, s) for r in rows):
        payload["small_classes"] = [s.small_classes, partition.small_class_index.tolist()]
    if als:
        payload["als"] = [s.als_lam, s.als_p]
    cls = MATCHERS.get(base)
    metrics = [values for m in (method, *rows) if not trains_network(parse_method(m)[0])
               and (values := recipe_values(parse_method(m)[0], s))]  # the metrics learned (LMNN's settings)
    if metrics:
        payload["lmnn"] = list(metrics[0].values())
    values = recipe_values(base, s)
    if cls.trains_network:
        payload["network"] = {"layers": get_topology(s.topology).layers,
                              "epochs": values["epochs"], "batch": s.batch_size,
                              "lr": s.lr, "halving": s.lr_halving_epochs,
                              "patience": s.patience if cls.early_stops else None,  # the CNNs never stop early
                              "augment": list(augmentation_recipe(s.augment)) if is_augmented(method, s) else [],
                              "features": values.get("activation", "none"),
                              "networks": values["networks"],
                              "precision": s.precision,
                              "figure": partition.number == FIGURE_PARTITION}
    if "loss" in values:
        payload["siamese"] = {"early_stopping": s.early_stopping, "loss": s.loss,
                              "triplet_margin": s.triplet_margin if get_loss(s.loss).profile_options else None}
    return stable_hash(payload)


def trained_methods(methods) -> dict[str, list[str]]:
    """{method that trains: the rows it answers}, in the recipe's order; fused rows need no training."""
    families: dict[str, list[str]] = {}
    for row in methods:
        if FUSION not in row:
            families.setdefault(network_method(row), []).append(row)
    return families


class OneShotProtocol(SettingsProtocol, Protocol, name="oneshot", default_dataset="rruff-ir", data_kind=SpectraSet,
                      data_needed="a spectral data set (use --dataset rruff-ir)",
                      recipes=oneshot_settings.RECIPES, build_report=build_report):
    """Matchers learned on training classes, tested on unseen classes with one reference each."""


    def plan(self, recipe: SettingsRecipe, data, options: RunOptions) -> OneShotPlan:
        s = recipe.settings
        try:
            if s.classes == "seen":
                partitions = make_seen_partitions(data.labels, s.partitions, options.seed,
                                                  validation_fraction=s.fractions[1],
                                                  min_per_class=s.min_spectra_per_class, dataset=data.name)
            else:
                partitions = make_partitions(data.labels, s.partitions, options.seed, fractions=s.fractions,
                                             min_per_class=s.min_spectra_per_class, distractors=s.distractors,
                                             dataset=data.name)
        except UserError as exc:
            if data.protocol and not data.protocol.startswith("one-shot"):
                raise UserError(f"{exc}; {data.name} is meant for {data.protocol}") from None
            raise
        topology = get_topology(s.topology)
        if topology.dims != 1:
            raise UserError(f"topology {s.topology} is {topology.dims}-D; one-shot spectra need a dims = 1 table")
        topology.layer_shapes(1, data.length)  # a too short spectrum for the twin is a UserError now, not later
        check_training_fits(topology, 1, data.length, batch_size=s.batch_size, arity=2,
                            steps=max(1, len(data) // s.batch_size), epochs=s.epochs, items=len(data), item_bytes=4,
                            device=options.device, what=f"training {topology.name} on {data.name}")
        device = options.device
        threads = options.threads or s.threads
        tasks = []
        fused = {m for row in s.methods for m in fusion_members(row)}
        for partition in partitions:
            for method, rows in trained_methods(s.methods).items():
                base, als = parse_method(method)
                seed = task_seed(options.seed, partition.number, method)
                small = trains_on_small_classes(method, s)
                built_on = {row: (parse_method(row)[0], matcher_params(parse_method(row)[0], s, seed, device, False))
                            for row in rows if row != method}
                keep_similarities = bool(fused & set(rows))
                tasks.append(MatchTask(
                    method=method, matcher=base, als=als, partition=partition, rows=tuple(rows),
                    key=_cache_key(data, partition, method, s, options.seed, threads, tuple(rows), keep_similarities),
                    params=matcher_params(base, s, seed, device, options.progress and options.jobs == 1,
                                          augment=is_augmented(method, s), small_classes=small),
                    built_on=built_on, labels=data.labels, threads=threads, small_classes=small,
                    built_on_small_classes=s.small_classes == "all", keep_similarities=keep_similarities,
                    keep_embeddings=MATCHERS.get(base).is_siamese and partition.number == FIGURE_PARTITION
                    and s.classes == "unseen"))
        return OneShotPlan(recipe, data, options, partitions, tasks, device, threads)

    def prepare(self, plan: OneShotPlan, tasks: list[MatchTask]) -> list[MatchTask]:
        """Preprocess the spectra once per input kind that the tasks to compute need."""
        prep = preprocessings(plan.recipe.settings)
        inputs = {als: prep[als](plan.dataset.spectra) for als in {t.als for t in tasks}}
        return [replace(t, inputs=inputs[t.als]) for t in tasks]

    def describe(self, plan: OneShotPlan) -> str:
        s, data, first = plan.recipe.settings, plan.dataset, plan.partitions[0].summary()
        trainings = sum(bool(recipe_values(parse_method(m)[0], s)) for m in trained_methods(s.methods))
        return "\n".join([
            f"pipeline {plan.recipe.name} on {data.name}: {len(data)} spectra, {data.n_classes} classes, "
            f"{count(len(plan.partitions), 'partition')} on {plan.device}",
            f"per partition: {first['train_classes']} train / {first['validation_classes']} validation / "
            f"{first['test_classes']} test classes, {first['references']} references, ~{first['queries']} queries",
            f"methods: {', '.join(s.methods)}",
            f"Siamese: {s.topology}, {s.loss} loss, features {s.features}, {s.epochs} epochs, batch {s.batch_size} "
            f"{batch_unit(s.loss)}, lr {s.lr:g} "
            f"halved every {s.lr_halving_epochs}, patience {s.patience}"
            f"{f', {s.networks} networks each' if s.networks > 1 else ''}; LMNN on {s.lmnn_pca} PCA components",
            f"trainings: {len(plan.partitions) * trainings}"])

    def task_line(self, task: MatchTask, result: dict, cached: bool) -> str:
        extra = ""
        if "history" in result:
            h = json.loads(str(result["history"]))
            extra = f", {len(h['train_loss'])} epochs, best {h['best_epoch']}"
        timing = self.timing(result["seconds"], cached)
        return "\n".join(f"partition {task.partition.number} {row:<14} accuracy {float(result[row + ':accuracy']):6.2f}%  "
                         f"macro-F1 {float(result[row + ':macro_f1']):6.2f}%  ({timing}{extra})" for row in task.rows)


PROTOCOLS.register("oneshot", OneShotProtocol(), summary="one-shot matching of classes never seen in training "
                   "(Liu et al.), Siamese against NN and LMNN")

__all__ = ["OneShotPlan", "OneShotProtocol"]
