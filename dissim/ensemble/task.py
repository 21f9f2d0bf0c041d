"""One training unit on one fold: train the network, embed once, build both spaces, score SVMs."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..nets.backbone import Backbone
from ..nets.table import Topology
from ..optim import create_optimizer
from ..pipelines.recipe import Profile
from ..space import ClassWiseKMeans, DeeperDissimilarity, FullyDissimilarity, embed
from ..train import create_loss, train_siamese
from .members import TrainingUnit
from .svm import SVMScorer


@dataclass(frozen=True)
class UnitTask:
    """Everything a worker needs to compute one (training unit, fold) entry, picklable."""

    unit: TrainingUnit
    fold: int  # 1-based
    key: str
    seed: int
    topology: Topology
    input_size: int
    images_path: str  # the preprocessed (N, C, S, S) uint8 array (.npy)
    labels: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    profile: Profile
    spaces: tuple[str, ...] = ("fully", "deeper")
    device: str = "cpu"
    threads: int | None = None
    progress: bool = False

    @property
    def label(self) -> str:
        return f"{self.unit.name} fold {self.fold}"


def score_key(space: str, k: int, part: str) -> str:
    """Name of an array in a cache entry, e.g. fully_k15_test."""
    return f"{space}_k{k}_{part}"


def run_unit_task(task: UnitTask) -> dict[str, np.ndarray]:
    """Train, embed and score one unit on one fold; returns the arrays of its cache entry."""
    started = time.perf_counter()
    if task.threads:
        torch.set_num_threads(task.threads)
    torch.manual_seed(task.seed)
    rng = np.random.default_rng(task.seed)
    device = torch.device(task.device)
    profile, unit = task.profile, task.unit

    images = np.load(task.images_path, mmap_mode="r")
    labels = np.asarray(task.labels)
    train_images = np.ascontiguousarray(images[task.train_index])
    backbone = Backbone(task.topology, in_channels=images.shape[1], input_size=task.input_size).to(device)
    if device.type == "cuda" and images.ndim == 4:
        backbone = backbone.to(memory_format=torch.channels_last)
    options = {"margin": profile.triplet_margin} if unit.method.loss == "triplet" else {}
    loss = create_loss(unit.method.loss, backbone.embedding_dim, **options).to(device)
    optimizer = create_optimizer(unit.method.optimizer, list(backbone.parameters()) + list(loss.parameters()),
                                 lr=profile.lr, betas=profile.betas, niter=profile.iterations,
                                 **dict(unit.method.options))
    trained = train_siamese(backbone, loss, optimizer, torch.from_numpy(train_images).to(device),
                            labels[task.train_index], iterations=profile.iterations,
                            batch_size=profile.batch_size, rng=rng, progress=task.progress, desc=task.label)
    train_seconds = time.perf_counter() - started

    # Every image of the fold goes through the network once; both spaces come from this pass.
    everyone = np.concatenate([task.train_index, task.test_index])
    emb = embed(backbone, images[everyone], device=device, batch_size=profile.embed_batch_size,
                deeper="deeper" in task.spaces)
    n_train = len(task.train_index)
    result = {"loss_history": trained.losses, "train_labels": labels[task.train_index],
              "test_labels": labels[task.test_index], "test_index": task.test_index}
    for k in unit.ks:
        kmeans = ClassWiseKMeans(k=k, random_state=int(rng.integers(2**31 - 1))).fit(train_images,
                                                                                        labels[task.train_index])
        proto = embed(backbone, kmeans.prototypes_, device=device, batch_size=profile.embed_batch_size,
                      deeper="deeper" in task.spaces)
        for space in task.spaces:
            if space == "fully":
                transformer = FullyDissimilarity(loss.fully, device=device).fit(proto.fully)
                features = transformer.transform(emb.fully)
            else:
                features = DeeperDissimilarity().fit(proto.deeper).transform(emb.deeper)
            svm = SVMScorer(C=profile.svm_C, gamma=profile.svm_gamma).fit(features[:n_train],
                                                                          labels[task.train_index])
            result[score_key(space, k, "train")] = svm.decision_function(features[:n_train]).astype(np.float32)
            result[score_key(space, k, "test")] = svm.decision_function(features[n_train:]).astype(np.float32)
    result["seconds"] = np.array([train_seconds, time.perf_counter() - started])
    return result
