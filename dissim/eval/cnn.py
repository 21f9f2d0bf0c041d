"""A fine-tuned ImageNet CNN as a scikit-learn classifier: the eCNN members of Nanni et al. 2021.

As the authors fine-tune (their MATLAB tools; ``nanni-matlab-code-notes.md`` §9): the pretrained
network's ImageNet classifier is replaced by a new fc layer for the data set's classes whose
learning rate is ``last_layer_lr_factor`` (20) times the rest; SGD with momentum 0.9, batch 30,
20 epochs, lr 1e-4; random left-right and up-down flips and a random 1-2x zoom per axis. Images are
zero-padded to a square and resized to the network input; grey images are replicated to three
channels. Training runs in dissim's one loop (cross-entropy on single items); batch-norm statistics
are then recomputed over the training set (MATLAB's default, "population").
"""

from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..data.arrays import check_inputs
from ..hardware import Compute
from ..nets.pretrained import INITS
from ..nets.table import pretrained_topology
from ..nets.twin import SiameseNet
from ..train import RETRIES, TwinConfig, TwinTraining, resolve_seed
from ..train.params import FRACTION, POSITIVE, TRAINING, at_least


class FineTunedCNN(TwinTraining, ClassifierMixin, BaseEstimator):
    """An ImageNet network fine-tuned on (X, y); scores are the softmax probabilities.

    ``network``: ``lite0``/``lite1``/``lite2`` or a torchvision classification model;
    ``weights``: a state-dict file (None: the packaged or cached ImageNet weights); ``init="random"``
    trains the same network from scratch (explicitly, never as a fallback); ``input_size``: the
    network input side (None: the larger of the images' side and the network's minimum).
    """

    _parameter_constraints = {
        **{k: TRAINING[k] for k in ("batch_size", "lr", "input_size", "device", "precision", "random_state", "verbose")},
        **RETRIES, "network": [str], "epochs": [at_least(1)], "momentum": [FRACTION], "last_layer_lr_factor": [POSITIVE],
        "augmentation": [StrOptions({"flips-scale", "none"}), None], "weights": [str, os.PathLike, None],
        "init": [StrOptions(set(INITS))],
    }

    def __init__(self, network="lite0", input_size=None, epochs=20, batch_size=30, lr=1e-4, momentum=0.9,
                 last_layer_lr_factor=20.0, augmentation="flips-scale", weights=None, init="pretrained",
                 device="auto", precision="auto", max_reruns=0, converge_ratio=0.9, random_state=None, verbose=False):
        self.network = network
        self.input_size = input_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.last_layer_lr_factor = last_layer_lr_factor
        self.augmentation = augmentation
        self.weights = weights
        self.init = init
        self.device = device
        self.precision = precision
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y) -> "FineTunedCNN":
        self._validate_params()
        inputs, y = self._labelled(X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        topology = pretrained_topology(self.network, weights=self.weights, init=self.init)
        network_inputs = self._fit_input_shape(topology, inputs)(inputs)
        seed = resolve_seed(self.random_state)
        self._resolve_compute(topology)
        config = TwinConfig(topology=topology, loss="cross-entropy", loss_options={"n_classes": len(self.classes_)},
                            optimizer="sgd", optimizer_options={"momentum": float(self.momentum)}, lr=float(self.lr),
                            batch_size=int(self.batch_size), iterations=None, epochs=int(self.epochs),
                            activation="none", augmentation=self.augmentation,
                            head_lr_factor=float(self.last_layer_lr_factor), batchnorm_statistics="population")
        twin, self.attempts_ = self._train_twin(network_inputs, codes, config, seed=seed,
                                                rng=np.random.default_rng(seed), desc=f"fine-tune {self.network}")
        self.net_, self.head_, self.history_ = twin.net, twin.loss, twin.history
        return self

    def embed(self, X) -> np.ndarray:
        """The fine-tuned network's pooled features (n, D): the input of its last (classifier) layer."""
        check_is_fitted(self)
        return self.net_.embed(self.input_shape_(check_inputs(X)))[0].float().cpu().numpy()

    def proba_of_features(self, features: np.ndarray) -> np.ndarray:
        """Softmax probabilities (n, classes) of features from :meth:`embed` (the last layer alone)."""
        check_is_fitted(self)
        with torch.no_grad():
            features = torch.as_tensor(features, device=self.net_.device)
            return torch.softmax(self.head_.logits(features).float(), dim=1).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Softmax probabilities (n, classes), in the order of ``classes_``."""
        check_is_fitted(self)
        features = self.net_.embed(self.input_shape_(check_inputs(X)))[0]
        with torch.no_grad():
            return torch.softmax(self.head_.logits(features).float(), dim=1).cpu().numpy()

    def decision_function(self, X) -> np.ndarray:
        """The softmax probabilities (n, classes) as scores; with two classes the second minus the first (n,)."""
        scores = self.predict_proba(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X) -> np.ndarray:
        probabilities = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def frozen_features(images, network: str = "lite0", *, weights: str | None = None, device="cpu",
                    precision: str = "fp32", batch_size: int = 128) -> np.ndarray:
    """Pooled ImageNet features (N, D) of raw 0-255 images (N, C, S, S) through ``network`` frozen: no
    training, eval mode, so batch norm uses ImageNet's statistics. Each image runs through once."""
    topology = pretrained_topology(network, weights=weights)
    # channels-last: oneDNN's fast layout for depthwise convolutions, in float32 too (1.7x on a 2-core CPU)
    net = SiameseNet(topology, images.shape[1], images.shape[-1], activation="none").to_device(
        Compute(device, precision, channels_last=True))
    # chunk by chunk: a memory-mapped cache is read a batch at a time, never copied whole
    return np.concatenate([net.embed(np.array(images[i:i + batch_size]), batch_size=batch_size)[0]
                           .float().cpu().numpy() for i in range(0, len(images), batch_size)])
