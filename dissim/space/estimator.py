"""``SiameseDissimilarity``: a scikit-learn transformer from images or spectra to dissimilarity vectors."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..data.arrays import check_inputs
from ..nets import get_topology
from ..train import RETRIES, TwinConfig, TwinTraining, get_loss, resolve_seed
from ..train.params import DISTINCT_POSITIVE_INTEGERS, TRAINING, at_least
from .dct import DCT_KEEP, dct_reduce
from .dissimilarity import SPACES
from .prototypes import ClassWiseKMeans, check_k_per_class


def _as_tuple(value, name: str, kind) -> tuple:
    values = (value,) if isinstance(value, kind) else tuple(value)
    if not values:
        raise ValueError(f"{name} is empty")
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must hold {'integers' if kind is numbers.Integral else 'names'}, got {value!r}")
    return values


class SiameseDissimilarity(TwinTraining, TransformerMixin, BaseEstimator):
    """Dissimilarity space of a Siamese network (Nanni et al., Sensors 2021).

    ``fit(X, y)`` trains a Siamese twin of ``topology`` on class-balanced pairs (``loss="bce"``) or
    triplets (``"triplet"``) with ``optimizer`` ("adam", "dgrad", "decaydgrad", a registered name or
    ``pkg.module:Factory``), then picks ``prototypes`` class-wise k-means centroids per class in input
    space. ``transform(X)`` embeds every item once and returns, per prototype, its dissimilarity to
    the item: ``(n_samples, prototypes × n_classes)``, float32. ``space`` is "fully" (the loss's
    FULLY feature: head similarity for BCE, Euclidean distance for triplet) or "deeper" (cosine
    distance of the per-channel DCT of the topology's DEEPER layer). Sequences of spaces and of k
    give their blocks side by side, k-major (all spaces of the first k, then the next k), one
    network for all; ``feature_blocks_`` says which columns are which.

    X: images ``(n, H, W)`` / ``(n, H, W, C)`` (uint8, integers 0-255 or floats in [0, 1]) or spectra
    ``(n, L)`` (a 1-D topology). ``input_size=None`` means the larger of the inputs' size and the
    topology's minimum valid input; images are zero-padded to a square and resized to it.
    ``iterations`` and ``batch_size`` (pairs or triplets) default to the paper's 3000 and 180.
    ``device`` ("auto", "cpu", "cuda", "cuda:N") and ``precision`` ("auto": bf16 where the device has
    fast bf16, else fp32; "fp32", "bf16", "fp16" on CUDA) say where and how the network computes;
    ``device_`` and ``precision_`` what fit used. A network whose training loss does not fall (mean of
    the last 10 % of steps above ``converge_ratio`` times the first 10 %) is retrained from a new
    initialisation, at most ``max_reruns`` times (the authors rerun training that does not converge);
    running out of GPU memory retries with 10 fewer pairs per batch. ``attempts_`` records both.
    ``augmentation`` names a policy of :mod:`dissim.train.augment` applied to every training input
    (e.g. "jitter": small shifts, zooms and rotations; None: none), with ``augmentation_options``.
    """

    _parameter_constraints = {
        **TRAINING, **RETRIES, "loss": [str], "optimizer": [str, callable], "space": [str, list, tuple],
        "prototypes": [DISTINCT_POSITIVE_INTEGERS], "iterations": [at_least(1)], "loss_options": [dict, None],
        "optimizer_options": [dict, None], "embed_batch_size": [at_least(1)], "augmentation": [str, None],
        "augmentation_options": [dict, None],
    }

    def __init__(self, topology="sn8", loss="bce", optimizer="adam", space="fully", prototypes=15,
                 iterations=3000, batch_size=180, lr=1e-4, betas=(0.9, 0.99), loss_options=None,
                 optimizer_options=None, input_size=None, embed_batch_size=128, device="auto", precision="auto",
                 max_reruns=0, converge_ratio=0.9, augmentation=None, augmentation_options=None,
                 random_state=None, verbose=False):
        self.topology = topology
        self.loss = loss
        self.optimizer = optimizer
        self.space = space
        self.prototypes = prototypes
        self.iterations = iterations
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.loss_options = loss_options
        self.optimizer_options = optimizer_options
        self.input_size = input_size
        self.embed_batch_size = embed_batch_size
        self.device = device
        self.precision = precision
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.augmentation = augmentation
        self.augmentation_options = augmentation_options
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y) -> "SiameseDissimilarity":
        """Train the twin on (X, y) and pick the prototypes; returns self."""
        self._validate_params()
        inputs, y = self._labelled(X, y)
        topology = get_topology(self.topology)
        spaces, ks = self._spaces(topology), _as_tuple(self.prototypes, "prototypes", numbers.Integral)
        get_loss(self.loss)  # an unknown loss is a UserError naming the known ones, before any work
        self.classes_, labels = np.unique(y, return_inverse=True)
        check_k_per_class(self.classes_, np.bincount(labels), max(ks), advice=": use prototypes <= {count}")
        network_inputs = self._fit_input_shape(topology, inputs)(inputs)
        seed = resolve_seed(self.random_state)
        rng = np.random.default_rng(seed)
        self._resolve_compute(topology)
        config = TwinConfig(topology=topology, loss=self.loss, loss_options=dict(self.loss_options or {}),
                            optimizer=self.optimizer, optimizer_options=dict(self.optimizer_options or {}),
                            lr=float(self.lr), betas=tuple(self.betas), batch_size=int(self.batch_size),
                            iterations=int(self.iterations),
                            augmentation=self.augmentation, augmentation_options=dict(self.augmentation_options or {}),
                            batchnorm_statistics="population" if topology.pretrained_network else "running")
        twin, self.attempts_ = self._train_twin(network_inputs, labels, config, seed=seed, rng=rng,
                                           desc=f"{topology.name}-{self.loss}-{self.optimizer}")
        self.net_, self.loss_, self.history_ = twin.net, twin.loss, twin.history
        self.spaces_, self.feature_blocks_, start = {}, [], 0
        for k in ks:  # each k's prototypes, embedded once for every space
            kmeans = ClassWiseKMeans(k=k, random_state=int(rng.integers(2**31 - 1))).fit(network_inputs, labels)
            representations = self._represent(kmeans.prototypes_, spaces)
            for space in spaces:
                transformer = SPACES.get(space).for_loss(self.loss_, self.device_)
                self.spaces_[(space, k)] = transformer.fit(representations[transformer.source])
                width = k * len(self.classes_)
                self.feature_blocks_.append((space, k, slice(start, start + width)))
                start += width
        self.n_output_features_ = start
        self.topology_ = topology
        return self

    def _spaces(self, topology) -> tuple[str, ...]:
        spaces = tuple(SPACES.canonical(s) for s in _as_tuple(self.space, "space", str))
        if "deeper" in spaces and topology.deeper is None:
            raise ValueError(f"topology {topology.name} names no DEEPER layer: use space='fully'")
        return spaces

    def _represent(self, network_inputs: np.ndarray, spaces) -> dict[str, torch.Tensor]:
        """Every input through the twin once: its features and, for DEEPER, its reduced inner layer."""
        deeper = any(SPACES.get(s).source == "deeper" for s in spaces)
        features, taps = self.net_.embed(network_inputs, batch_size=self.embed_batch_size,
                                         tap=(lambda a: dct_reduce(a, DCT_KEEP)) if deeper else None)
        return {"features": features, "deeper": taps}

    # -- transforming -----------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Dissimilarity vectors (n, n_output_features_) float32, blocks as ``feature_blocks_``."""
        check_is_fitted(self)
        inputs = check_inputs(X)
        representations = self._represent(self.input_shape_(inputs),
                                           {space for space, _, _ in self.feature_blocks_})
        out = np.empty((len(inputs), self.n_output_features_), dtype=np.float32)
        for space, k, columns in self.feature_blocks_:
            transformer = self.spaces_[(space, k)]
            out[:, columns] = transformer.transform(representations[transformer.source])
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``<space>_k<k>_<class>_<j>`` for every output column."""
        check_is_fitted(self)
        return np.array([f"{space}_k{k}_{c}_{j}" for space, k, _ in self.feature_blocks_
                         for c in self.classes_ for j in range(k)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # network features: float32 whatever comes in
        return tags


__all__ = ["SiameseDissimilarity", "resolve_seed"]  # resolve_seed: dissim.train.estimator's
