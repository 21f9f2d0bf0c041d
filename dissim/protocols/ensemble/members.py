"""Members, training units and the (unit, fold) task that trains and scores them.

A *member* is (topology, method = loss + optimizer, space, k): one SVM's scores per fold. A
*training unit* is the network several members share: one (topology, method) with the k values it
serves (one k each for a fresh network per k, as the paper; all k with ``share_network``). Each
(unit, fold) is one task: a :class:`~dissim.space.SiameseDissimilarity` fitted on the training
fold gives every space and k from one embedding pass; an RBF ``SVC`` per (space, k) scores the
test fold.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ...data import ImageSet
from ...eval.cnn import FineTunedCNN
from ...eval.fusion import class_scores
from ...eval.inner import INNER_FOLDS, inner_folds, out_of_fold_scores
from ...eval.metrics import accuracy
from ...nets import Topology
from ...nets.pretrained import resolve_weights
from ...space import SiameseDissimilarity
from ...storage import file_digest
from ...train import get_loss
from ..base import RunOptions, task_seed, torch_threads
from .baselines import BaselineTask, FrozenBaselineTask
from .fold_task import FoldTask
from .recipe import ECNN_METHOD, CnnSettings, EnsembleRecipe, Method, Profile

ECNN_SPACE = "softmax"


@dataclass(frozen=True)
class Member:
    """One SVM's scores per fold: a topology trained with a method, in one space, with k prototypes per class."""

    topology: str
    method: Method
    space: str
    k: int

    @property
    def name(self) -> str:
        return f"{self.topology}-{self.method.slug}-{self.space}-k{self.k}"


@dataclass(frozen=True)
class CnnMember:
    """A fine-tuned ImageNet CNN (an eCNN member): its softmax scores per fold. Filters see it as
    topology = the network, method eCNN (cross-entropy with SGD), space softmax, k 0."""

    network: str
    method = Method(ECNN_METHOD, "cross-entropy", "sgd")
    space = ECNN_SPACE
    k = 0

    @property
    def topology(self) -> str:
        return self.network

    @property
    def name(self) -> str:
        return f"ecnn-{self.network}"


@dataclass(frozen=True)
class TrainingUnit:
    """One network a fold trains, shared by the members of its topology and method for the k it serves."""

    topology: str
    method: Method
    ks: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.topology}-{self.method.slug}-k{'+'.join(str(k) for k in self.ks)}"


def score_key(space: str, k: int, part: str) -> str:
    """Name of an array in a cache entry, e.g. fully_k15_test."""
    return f"{space}_k{k}_{part}"


def loss_options(loss: str, profile: Profile) -> dict:
    """The loss's constructor options that the profile sets (e.g. the triplet margin)."""
    return {arg: getattr(profile, key) for arg, key in get_loss(loss).profile_options.items()}


@dataclass(frozen=True, kw_only=True)
class UnitTask(FoldTask):
    """One training unit on one fold, picklable: train, embed once, score an SVM per (space, k)."""

    unit: TrainingUnit
    seed: int
    topology: Topology
    profile: Profile
    spaces: tuple[str, ...]
    device: str = "cpu"
    progress: bool = False

    @classmethod
    def planned(cls, recipe: EnsembleRecipe, dataset, fold: int, unit: TrainingUnit, topology: Topology,
                weights_digest: str, input_size: int, options: RunOptions, threads: int) -> "UnitTask":
        """``unit`` on ``fold``, keyed by what its result depends on: the layers, the method, the k
        values, the profile settings it reads and the pretrained weights' digest."""
        keyed = {"dataset": dataset.name,
                 "topology": {"layers": topology.layers, "dims": topology.dims, "deeper": topology.deeper},
                 "method": {"loss": unit.method.loss, "optimizer": unit.method.optimizer,
                            "options": unit.method.options},
                 "ks": unit.ks, "profile": keyed_profile(recipe.profile, unit), "weights": weights_digest,
                 "inner_cv": INNER_FOLDS}
        return cls.on_fold(dataset, fold, options.seed, threads, input_size, keyed, unit=unit,
                           seed=task_seed(options.seed, unit.name, fold), topology=topology, profile=recipe.profile,
                           spaces=("fully", "deeper") if topology.deeper else ("fully",), device=options.device,
                           progress=options.progress and options.jobs == 1)

    @property
    def hasc(self) -> bool:
        return self.profile.hasc

    @property
    def label(self) -> str:
        return f"{self.unit.name} fold {self.fold}"

    @property
    def owner(self) -> TrainingUnit:
        """What the task trains (the members that use it read its scores)."""
        return self.unit

    @property
    def file_stem(self) -> str:
        return f"{self.unit.name}_fold_{self.fold}"

    def summary(self, result: dict) -> str:
        """The task's log line after its label: each member's test accuracy."""
        return ", ".join(f"{space}-k{k} {accuracy(result[score_key(space, k, 'test')], result['test_labels']):.2f}%"
                         for k in self.unit.ks for space in self.spaces if score_key(space, k, "test") in result)

    def run(self) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        p, method = self.profile, self.unit.method
        pretrained = self.topology.pretrained_network is not None
        lr = p.pretrained_lr if pretrained and p.pretrained_lr is not None else p.lr
        with torch_threads(self.threads):
            images = np.load(self.images_path, mmap_mode="r")  # (N, C, S, S): the estimator takes channels last
            labels = np.asarray(self.labels)
            y_train = labels[self.train_index]
            space = SiameseDissimilarity(
                topology=self.topology, loss=method.loss, optimizer=method.optimizer, space=self.spaces,
                prototypes=self.unit.ks, iterations=p.iterations, batch_size=p.batch_size, lr=lr, betas=p.betas,
                loss_options=loss_options(method.loss, p), optimizer_options=dict(method.options),
                input_size=self.input_size, embed_batch_size=p.embed_batch_size, device=self.device,
                precision=p.pretrained_precision if pretrained else p.precision,
                max_reruns=p.max_reruns, converge_ratio=p.converge_ratio,
                augmentation=None if p.augmentation == "none" else p.augmentation,
                random_state=self.seed, verbose=self.progress)
            space.fit(images[self.train_index].transpose(0, 2, 3, 1), y_train)
            train_seconds = time.perf_counter() - started
            everyone = np.concatenate([self.train_index, self.test_index])  # every image embedded once
            features = space.transform(images[everyone].transpose(0, 2, 3, 1))
        n_train = len(self.train_index)
        attempts = space.attempts_
        result = {"loss_history": space.history_.step_loss, "train_labels": y_train,
                  "test_labels": labels[self.test_index], "test_index": self.test_index,
                  "attempts": np.array([attempts.reruns, attempts.converged, attempts.batch_size])}
        cv = inner_folds(y_train, self.seed, None)  # None: a class has one training item (no learned fusion)
        for name, k, columns in space.feature_blocks_:
            svm = SVC(C=p.svm_C, gamma=p.svm_gamma, kernel="rbf", decision_function_shape="ovr")
            svm.fit(features[:n_train, columns], y_train)
            for part, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
                scores = class_scores(svm.decision_function(features[rows, columns]))
                result[score_key(name, k, part)] = scores.astype(np.float32)
            if cv is not None:  # what a learned fusion weighs members by: each item scored by an SVM that did not see it
                result[score_key(name, k, "inner")] = out_of_fold_scores(
                    svm, features[:n_train, columns], y_train, cv).astype(np.float32)
        result["seconds"] = np.array([train_seconds, time.perf_counter() - started])
        return result


def attempts_of(result: dict) -> dict:
    """A UnitTask result's training attempts: reruns, converged, the batch size that fit."""
    reruns, ok, batch = (int(v) for v in result["attempts"])
    return {"reruns": reruns, "converged": bool(ok), "batch_size": batch}


@dataclass(frozen=True, kw_only=True)
class CnnTask(FoldTask):
    """One eCNN member on one fold: fine-tune the network on the training fold, softmax scores of both folds."""

    network: str
    seed: int
    settings: CnnSettings
    precision: str = "fp32"
    device: str = "cpu"
    progress: bool = False

    @classmethod
    def planned(cls, cnn: CnnSettings, dataset, fold: int, network: str, input_size: int, options: RunOptions,
                threads: int) -> "CnnTask":
        """``network`` fine-tuned on ``fold`` at side ``input_size``, in the precision the run resolved for
        an ImageNet network of that size; keyed by its weights' digest and the eCNN settings."""
        precision = options.compute.precision(pretrained=True, size=input_size)
        weights = resolve_weights(network, cnn.weights_for(network), cnn.init)
        keyed = {"dataset": dataset.name, "ecnn": network, "weights": file_digest(weights) if weights else "random",
                 "settings": {k: v for k, v in asdict(cnn).items() if k not in ("networks", "weights")},
                 "precision": precision, "inner_cv": INNER_FOLDS}
        return cls.on_fold(dataset, fold, options.seed, threads, input_size, keyed, network=network,
                           seed=task_seed(options.seed, f"ecnn-{network}", fold), settings=cnn, precision=precision,
                           device=options.device, progress=options.progress and options.jobs == 1)

    @property
    def label(self) -> str:
        return f"ecnn-{self.network} fold {self.fold}"

    @property
    def owner(self) -> str:
        """What the task trains (the members that use it read its scores)."""
        return self.network

    @property
    def file_stem(self) -> str:
        return f"ecnn-{self.network}_fold_{self.fold}"

    def summary(self, result: dict) -> str:
        return f"{accuracy(result[score_key('softmax', 0, 'test')], result['test_labels']):.2f}%"

    def run(self) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        s = self.settings
        with torch_threads(self.threads):
            images = np.load(self.images_path, mmap_mode="r")
            labels = np.asarray(self.labels)
            model = FineTunedCNN(
                network=self.network, input_size=self.input_size, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr,
                momentum=s.momentum, last_layer_lr_factor=s.last_layer_lr_factor,
                augmentation=None if s.augmentation == "none" else s.augmentation,
                weights=s.weights_for(self.network), init=s.init, device=self.device, precision=self.precision,
                random_state=self.seed, verbose=self.progress)
            model.fit(images[self.train_index].transpose(0, 2, 3, 1), labels[self.train_index])
            train_seconds = time.perf_counter() - started
            result = {"loss_history": model.history_.step_loss, "train_labels": labels[self.train_index],
                      "test_labels": labels[self.test_index], "test_index": self.test_index}
            y_train = labels[self.train_index]
            features = {part: model.embed(images[index].transpose(0, 2, 3, 1))  # each image embedded once
                        for part, index in (("train", self.train_index), ("test", self.test_index))}
            for part, part_features in features.items():
                result[score_key(ECNN_SPACE, 0, part)] = model.proba_of_features(part_features).astype(np.float32)
            # inner scores for a learned fusion: the network's last layer is a softmax classifier of its
            # pooled features, so a logistic regression refitted on the other inner folds' features scores
            # each training item as that layer would without having seen it
            cv = inner_folds(y_train, self.seed, None)
            if cv is not None:
                result[score_key(ECNN_SPACE, 0, "inner")] = out_of_fold_scores(
                    make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), features["train"], y_train,
                    cv, method="predict_proba").astype(np.float32)
        result["seconds"] = np.array([train_seconds, time.perf_counter() - started])
        return result


@dataclass
class EnsemblePlan:
    """A resolved run: the members, the networks they share, the folds and one task per (network, fold)."""

    recipe: EnsembleRecipe
    dataset: ImageSet
    options: RunOptions
    members: list[Member | CnnMember]
    units: list[TrainingUnit]
    folds: list[int]
    trainings: list[UnitTask]
    cnn_trainings: list[CnnTask]
    pixel_baselines: list[BaselineTask]  # one per fold
    frozen_baselines: list[FrozenBaselineTask]  # one per fold, or none
    sizes: dict[str, int]

    @property
    def tasks(self) -> list:
        """The UnitTasks, the CnnTasks, then the baselines."""
        return [*self.trainings, *self.cnn_trainings, *self.baselines]

    @property
    def baselines(self) -> list[BaselineTask | FrozenBaselineTask]:
        return [*self.pixel_baselines, *self.frozen_baselines]

    def members_of(self, task) -> list:
        """The members that read the scores of training ``task``."""
        return [m for m in self.members
                if (m.network if isinstance(m, CnnMember) else unit_of(m, self.units)) == task.owner]

    @property
    def baseline_names(self) -> list[str]:
        """Every baseline row of the run, in table order."""
        return list(dict.fromkeys(name for t in self.baselines for name in t.names))

    @property
    def baseline_size(self) -> int:
        """The baselines' input side (:func:`baseline_size`)."""
        return baseline_size(self.sizes, self.recipe.topologies)


def baseline_size(sizes: dict[str, int], topologies) -> int:
    """The smallest input side of the Siamese members (their preprocessed pixels; the eCNN's alone
    when there are no Siamese members)."""
    return min([sizes[t] for t in topologies] or sizes.values())


def plan_members(recipe: EnsembleRecipe) -> list[Member | CnnMember]:
    """Every member of the recipe's grid, topology-major, in recipe order; then the eCNN members."""
    return [Member(t, m, s, k) for t in recipe.topologies for m in recipe.methods
            for k in recipe.profile.prototypes for s in recipe.spaces] + [CnnMember(n) for n in recipe.ecnn.networks]


def plan_units(recipe: EnsembleRecipe) -> list[TrainingUnit]:
    """The networks to train: one per (topology, method, k), or per (topology, method) when shared."""
    ks = recipe.profile.prototypes
    groups = [ks] if recipe.profile.share_network else [(k,) for k in ks]
    return [TrainingUnit(t, m, g) for t in recipe.topologies for m in recipe.methods for g in groups]


def unit_of(member: Member, units: list[TrainingUnit]) -> TrainingUnit:
    return next(u for u in units if u.topology == member.topology and u.method == member.method and member.k in u.ks)


def keyed_profile(profile: Profile, unit: TrainingUnit) -> dict:
    """The profile settings that determine a unit's results (not, e.g., the list of all k)."""
    keyed = {"iterations": profile.iterations, "batch_size": profile.batch_size, "lr": profile.lr,
             "betas": profile.betas, "svm_C": profile.svm_C, "svm_gamma": profile.svm_gamma,
             "precision": profile.precision, "pretrained_precision": profile.pretrained_precision,
             "pretrained_lr": profile.pretrained_lr,
             "hasc": profile.hasc, "max_reruns": profile.max_reruns,
             "converge_ratio": profile.converge_ratio}
    if profile.augmentation != "none":  # keys of runs without augmentation stay as they were
        keyed["augmentation"] = profile.augmentation
    keyed.update({key: getattr(profile, key) for key in get_loss(unit.method.loss).profile_options.values()})
    return keyed

