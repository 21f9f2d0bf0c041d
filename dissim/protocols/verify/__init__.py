"""The pair-verification protocol (Borsani 2023): are two images of the same class?

Per random split (stratified 64/16/20 % train / validation / test images): a
:class:`~dissim.eval.verifier.PairVerifier` trains on partner pairs of the training images, its
decision threshold maximises F1 on validation pairs, and it is scored on test pairs (each test
image with ``partners`` random others) and on the one-vs-15 test (each test image with 15 random
others); the raw-pixel cosine baseline is scored on the same pairs, its threshold chosen on the
same validation pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.model_selection import train_test_split

from ...data import ImageSet
from ...data.preprocess import check_preprocess_fits, preprocess_to_cache
from ...errors import UserError
from ...eval.report import count
from ...nets import get_topology
from ...train.budget import check_training_fits
from ..base import PROTOCOLS, Protocol, RunOptions, task_seed
from ..settings_recipe import SettingsProtocol, SettingsRecipe
from . import settings as verify_settings
from .report import build_report
from .task import VerifyTask


@dataclass
class VerifyPlan:
    recipe: SettingsRecipe
    dataset: ImageSet
    options: RunOptions
    tasks: list[VerifyTask]
    input_size: int
    device: str


def split(labels: np.ndarray, fractions, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, validation, test) item indices in the given fractions."""
    items = np.arange(len(labels))
    rest, test = train_test_split(items, test_size=fractions[2], stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=fractions[1] / (fractions[0] + fractions[1]),
                                  stratify=labels[rest], random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


class VerifyProtocol(SettingsProtocol, Protocol, name="verify", default_dataset="digits", data_kind=ImageSet,
                     data_needed="an image data set", recipes=verify_settings.RECIPES,
                     build_report=build_report):
    """A Siamese pair verifier and a raw-pixel cosine baseline on the same test pairs."""

    flags = SettingsProtocol.flags | {"input_size"}

    def plan(self, recipe: SettingsRecipe, dataset, options: RunOptions) -> VerifyPlan:
        s = recipe.settings
        counts = np.bincount(dataset.labels, minlength=dataset.n_classes)
        if dataset.n_classes < 2 or counts.min() < 5:
            raise UserError(f"{dataset.name}: pair verification needs two or more classes of at least 5 images "
                            f"each (for stratified train / validation / test splits); it has {dataset.n_classes} "
                            f"classes, the smallest with {counts.min()}")
        topology = get_topology(s.topology)
        if topology.dims != 2:
            raise UserError(f"topology {s.topology} is {topology.dims}-D; image pairs need a dims = 2 table")
        size = max(s.input_size, topology.min_input_size(dataset.channels))
        check_preprocess_fits(dataset, size)
        check_training_fits(topology, dataset.channels, size, batch_size=s.batch_size, arity=2,
                            steps=-(-len(dataset) * s.partners // s.batch_size), epochs=s.epochs, items=len(dataset),
                            device=options.device, what=f"training {topology.name} at {size}x{size}")
        device = options.device
        threads = options.compute.threads
        tasks = []
        for repeat in range(1, s.repeats + 1):
            seed = task_seed(options.seed, "verify", repeat)
            tasks.append(VerifyTask.planned(dataset, repeat, seed, split(dataset.labels, s.fractions, seed % 2**31), s,
                                            topology, size, threads, device=device,
                                            progress=options.progress and options.jobs == 1))
        return VerifyPlan(recipe, dataset, options, tasks, size, device)

    def prepare(self, plan: VerifyPlan, tasks: list[VerifyTask]) -> list[VerifyTask]:
        path = str(preprocess_to_cache(plan.dataset, plan.input_size))
        return [replace(t, images_path=path) for t in tasks]

    def describe(self, plan: VerifyPlan) -> str:
        s, data, first = plan.recipe.settings, plan.dataset, plan.tasks[0]
        return "\n".join([
            f"pipeline {plan.recipe.name} on {data.name}: {len(data)} images, {data.n_classes} classes, "
            f"{count(s.repeats, 'random split')} on {plan.device}",
            f"per split: {len(first.train_index)} train / {len(first.val_index)} validation / "
            f"{len(first.test_index)} test images; {len(first.train_index) * s.partners} training pairs, "
            f"{len(first.test_index) * s.partners} test pairs, {len(first.test_index) * s.test_partners} one-vs-"
            f"{s.test_partners} pairs",
            f"twin {s.topology} at {plan.input_size}x{plan.input_size}, {s.epochs} epochs of batch {s.batch_size} "
            f"pairs, Adam lr {s.lr:g} (x{s.lr_gamma:g} per epoch), weight decay {s.weight_decay:g}"])




PROTOCOLS.register("verify", VerifyProtocol(), summary="pair verification (Borsani 2023): a small Siamese CNN "
                   "against raw-pixel cosine on the same pairs")
