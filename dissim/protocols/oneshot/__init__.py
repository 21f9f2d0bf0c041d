"""The one-shot protocol (Liu et al. §3.1): match spectra of classes never seen in training.

For each random class partition (:func:`dissim.data.splits.make_partitions`) and each method of
the recipe, the matcher learns on the training classes (validation classes serve the Siamese
network's early stopping), then every query spectrum of the test classes takes the class of its
most similar reference. All methods share the partitions and the references; a method with the
suffix ``-als`` runs on baseline-corrected spectra. Each (partition, method) is one task.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...data.spectra import SpectraSet
from ...data.splits import Partition, make_partitions, make_seen_partitions
from ...errors import UserError
from ...eval.report import count
from ...nets import get_topology
from ...train.budget import check_training_fits
from ..base import PROTOCOLS, Protocol, RunOptions
from ..settings_recipe import SettingsProtocol, SettingsRecipe
from . import settings as oneshot_settings
from .params import recipe_values
from .report import build_report
from .settings import FUSION, batch_unit, fusion_members, network_method, parse_method, preprocessings
from .task import MatchTask


@dataclass
class OneShotPlan:
    recipe: SettingsRecipe
    dataset: SpectraSet
    options: RunOptions
    partitions: list[Partition]
    tasks: list[MatchTask]
    device: str
    threads: int


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

    def threads_per_task(self, recipe: SettingsRecipe) -> int:
        return recipe.settings.threads

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
        device, threads = options.device, options.compute.threads
        fused = {m for row in s.methods for m in fusion_members(row)}
        tasks = [MatchTask.planned(data, partition, method, tuple(rows), s, options.seed, threads, device,
                                   options.progress and options.jobs == 1, keep_similarities=bool(fused & set(rows)))
                 for partition in partitions for method, rows in trained_methods(s.methods).items()]
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



PROTOCOLS.register("oneshot", OneShotProtocol(), summary="one-shot matching of classes never seen in training "
                   "(Liu et al.), Siamese against NN and LMNN")

__all__ = ["OneShotPlan", "OneShotProtocol"]
