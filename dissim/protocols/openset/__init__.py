"""The open-set protocol (EMIS Siamese-CNN, J. Electron. Test. 2023, §4): identify known classes
and detect a class never seen in training.

Classes with at least ``min_per_class`` spectra take part. Each of them is held out in turn as the
unknown class: every other class gives ``train_per_class`` random spectra to training and the rest
to test; all spectra of the held-out class are test spectra that should come out "unknown". Every
method sees the same splits: the open-set Siamese-CNN (contrastive + cross-entropy, eq. 22), the
same with the contrastive loss alone, and the sub-network as a closed-set softmax CNN, without and
with maximum-softmax-probability rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...data.spectra import SpectraSet
from ...data.spectral import SpectralPreprocessing
from ...errors import UserError
from ...nets import get_topology
from ...train.budget import check_training_fits
from ..base import PROTOCOLS, Protocol, RunOptions, task_seed
from ..settings_recipe import SettingsProtocol, SettingsRecipe
from . import settings as openset_settings
from .report import build_report
from .task import CLOSED_SET, OpenSetTask

FAMILIES = {"siamese-contrastive-ce": "siamese-contrastive-ce", "siamese-contrastive": "siamese-contrastive",
            "closed-set-cnn": CLOSED_SET, "closed-set-cnn-max-softmax": CLOSED_SET, "closed-set-cnn-energy": CLOSED_SET}


@dataclass
class OpenSetPlan:
    recipe: SettingsRecipe
    dataset: SpectraSet
    options: RunOptions
    classes: np.ndarray  # the class codes that take part
    tasks: list[OpenSetTask]
    device: str
    background: str


def background_vector(spec: str, data: SpectraSet) -> tuple[np.ndarray | None, int | None]:
    """(b of the input layer, or None; the class it came from, which then leaves the data, or None)."""
    if not spec:
        return None, None
    kind, _, value = spec.partition(":")
    if kind == "class":
        if value not in data.class_names:
            raise UserError(f"background = {spec!r}: {data.name} has no class {value!r}")
        code = data.class_names.index(value)
        return SpectralPreprocessing()(data.spectra[data.labels == code]).mean(0), code
    path = Path(value).expanduser()
    try:
        vector = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as exc:
        raise UserError(f"background = {spec!r}: cannot read {path} ({exc})") from None
    vector = np.asarray(vector, dtype=np.float64).ravel()
    if len(vector) != data.length or not np.all(np.isfinite(vector)):
        raise UserError(f"background = {spec!r}: needs {data.length} finite values, one per point, got {len(vector)}")
    return vector, None


class OpenSetProtocol(SettingsProtocol, Protocol, name="openset", default_dataset="coffee", data_kind=SpectraSet,
                      data_needed="a spectral data set (use --dataset coffee or rruff-ir)",
                      recipes=openset_settings.RECIPES, build_report=build_report):
    """Known classes identified, a held-out class rejected as unknown; Siamese-CNN against CNN baselines."""


    def plan(self, recipe: SettingsRecipe, data, options: RunOptions) -> OpenSetPlan:
        s = recipe.settings
        topology = get_topology(s.topology)
        if topology.dims != 1:
            raise UserError(f"topology {s.topology} is {topology.dims}-D; spectra need a dims = 1 table")
        check_training_fits(topology, 1, data.length, batch_size=s.batch_size, arity=2,
                            steps=max(1, len(data) // s.batch_size), epochs=max(s.epochs, s.cnn_epochs),
                            items=len(data), item_bytes=4, device=options.device,
                            what=f"training {topology.name} on {data.name}")
        gate, gate_class = background_vector(s.background, data)
        counts = data.class_counts()
        classes = np.array([c for c in np.flatnonzero(counts >= s.min_per_class) if c != gate_class])
        if len(classes) < 3:
            raise UserError(f"open-set identification on {data.name} needs at least 3 classes with >= "
                            f"{s.min_per_class} spectra (two known, one unknown); it has {len(classes)}")
        device, threads = options.device, options.compute.threads
        families = list(dict.fromkeys(FAMILIES[m] for m in s.methods))
        tasks = []
        for held in classes:
            rng = np.random.default_rng([options.seed, int(held)])
            train = np.sort(np.concatenate([rng.permutation(np.flatnonzero(data.labels == c))[:s.train_per_class]
                                            for c in classes if c != held]))
            test = np.setdiff1d(np.flatnonzero(np.isin(data.labels, classes)), train)
            tasks += [OpenSetTask.planned(data, int(held), family,
                                          task_seed(options.seed, data.class_names[held], family), train, test, s,
                                          topology, threads, device=device, gate=gate,
                                          progress=options.progress and options.jobs == 1)
                      for family in families]
        return OpenSetPlan(recipe, data, options, classes, tasks, device, s.background)

    def prepare(self, plan: OpenSetPlan, tasks: list[OpenSetTask]) -> list[OpenSetTask]:
        prepared = SpectralPreprocessing()(plan.dataset.spectra)
        return [replace(t, inputs=prepared) for t in tasks]

    def describe(self, plan: OpenSetPlan) -> str:
        s, data = plan.recipe.settings, plan.dataset
        names = ", ".join(data.class_names[c] for c in plan.classes)
        return "\n".join([
            f"pipeline {plan.recipe.name} on {data.name}: {len(plan.classes)} classes ({names}), each held out in "
            f"turn; {s.train_per_class} training spectra per known class; {len(plan.tasks)} trainings on {plan.device}",
            f"methods: {', '.join(s.methods)}; {s.topology}, {s.epochs} epochs of batch {s.batch_size}, Adam lr {s.lr:g}"])




PROTOCOLS.register("openset", OpenSetProtocol(), summary="open-set identification (EMIS Siamese-CNN): known classes "
                   "and a held-out unknown class, against closed-set and maximum-softmax CNNs")
