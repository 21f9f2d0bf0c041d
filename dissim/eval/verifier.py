"""``PairVerifier``: are two images of the same class? A small Siamese CNN as Borsani 2023."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ..data.arrays import check_inputs
from ..nets import get_topology
from ..train import RETRIES, TwinConfig, TwinTraining, resolve_seed
from ..train.params import FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, TRAINING, at_least
from ..train.samplers import partner_pairs
from .metrics import best_f1_threshold


class PairVerifier(TwinTraining, BaseEstimator):
    """A Siamese verifier: similarity σ(w·|f(x1) − f(x2)| + b) of two images, f the twin of ``topology``.

    ``fit(X, y)`` pairs every training image with ``partners`` random others (target 1 when the
    classes agree) and trains with binary cross-entropy (Adam ``lr``, ``weight_decay``, the
    learning rate times ``lr_gamma`` after each of ``epochs`` epochs, batches of ``batch_size``
    pairs; flips and greyscale with probability ``augment_p``, the same for both images of a pair
    when ``augment_paired``; He initialisation in the layer table and the head). With validation
    items (``validation=(X_val, y_val)``, or else a stratified ``validation_fraction`` of X) the
    decision threshold is the one that maximises F1 on their partner pairs; otherwise 0.5.

    Pairs are given as an array ``(n, 2, H, W[, C])`` or a tuple ``(X1, X2)``; ``predict_proba``
    gives the columns (different, same), ``predict`` 1 for same.
    """

    _parameter_constraints = {
        **{k: v for k, v in TRAINING.items() if k != "betas"}, **RETRIES, "epochs": [at_least(1)],
        "weight_decay": [NON_NEGATIVE], "lr_gamma": [Interval(Real, 0, 1, closed="right")], "partners": [at_least(1)],
        "augment_p": [PROBABILITY], "augment_paired": ["boolean"], "input_scale": [POSITIVE],
        "validation_fraction": [FRACTION],
    }

    def __init__(self, topology="borsani", epochs=30, batch_size=64, lr=0.01, weight_decay=2.5e-4, lr_gamma=0.9,
                 partners=5, augment_p=0.7, augment_paired=True, input_scale=1 / 255, input_size=None,
                 validation_fraction=0.2, device="auto", precision="auto", max_reruns=0, converge_ratio=0.9,
                 random_state=None, verbose=False):
        self.topology = topology
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_gamma = lr_gamma
        self.partners = partners
        self.augment_p = augment_p
        self.augment_paired = augment_paired
        self.input_scale = input_scale
        self.input_size = input_size
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y, validation=None) -> "PairVerifier":
        self._validate_params()
        inputs, y = self._labelled(X, y)
        seed = resolve_seed(self.random_state)
        rng = np.random.default_rng(seed)
        if validation is None and self.validation_fraction:
            train, held = train_test_split(np.arange(len(y)), test_size=self.validation_fraction, stratify=y,
                                           random_state=int(rng.integers(2**31 - 1)))
            validation, inputs, y = (inputs[held], y[held]), inputs[train], y[train]
        topology = get_topology(self.topology)
        network_inputs = self._fit_input_shape(topology, inputs)(inputs)
        self._resolve_compute(topology)
        config = TwinConfig(topology=topology, loss="bce", loss_options={"head_init": "he"}, optimizer="adam",
                            optimizer_options={"weight_decay": float(self.weight_decay)}, lr=float(self.lr),
                            betas=(0.9, 0.999), batch_size=int(self.batch_size), iterations=None,
                            epochs=int(self.epochs), sampler="partner-pairs",
                            sampler_options={"partners": int(self.partners)}, input_scale=float(self.input_scale),
                            lr_gamma=self.lr_gamma,
                            augmentation="flips-greyscale" if self.augment_p else None,
                            augmentation_options={"p": float(self.augment_p), "paired": bool(self.augment_paired)})
        twin, self.attempts_ = self._train_twin(network_inputs, y, config, seed=seed, rng=rng,
                                                desc=f"verifier {topology.name}")
        self.net_, self.loss_, self.history_ = twin.net, twin.loss, twin.history
        self.threshold_ = 0.5
        if validation is not None and len(validation[1]) > 1:
            val_inputs, val_y = check_inputs(validation[0], name="validation X"), np.asarray(validation[1])
            first, second = partner_pairs(len(val_y), int(self.partners), rng)
            scores = self.similarity(val_inputs[first], val_inputs[second])
            self.threshold_ = best_f1_threshold(scores, val_y[first] == val_y[second])
            self.validation_pairs_ = (first, second)  # indices into the validation items, for comparisons
        return self

    def _sides(self, pairs) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(pairs, (tuple, list)) and len(pairs) == 2:
            return check_inputs(pairs[0], name="pairs[0]"), check_inputs(pairs[1], name="pairs[1]")
        pairs = np.asarray(pairs)
        if pairs.ndim < 3 or pairs.shape[1] != 2:
            raise ValueError(f"pairs must be (n, 2, H, W[, C]) or a tuple (X1, X2), got shape {pairs.shape}")
        return check_inputs(pairs[:, 0], name="pairs"), check_inputs(pairs[:, 1], name="pairs")

    def decision_function(self, pairs) -> np.ndarray:
        """The head's logit of "same" for each pair."""
        check_is_fitted(self)
        first, second = self._sides(pairs)
        if len(first) != len(second):
            raise ValueError(f"{len(first)} first images but {len(second)} second ones")
        f1 = self.net_.embed(self.input_shape_(first))[0]
        f2 = self.net_.embed(self.input_shape_(second))[0]
        with torch.no_grad():
            return self.loss_.pair_logits(f1, f2).float().cpu().numpy()

    def similarity(self, X1, X2) -> np.ndarray:
        """σ(logit): how alike each X1[i] is to X2[i], in [0, 1]."""
        return 1.0 / (1.0 + np.exp(-self.decision_function((X1, X2)).astype(np.float64)))

    def predict_proba(self, pairs) -> np.ndarray:
        same = 1.0 / (1.0 + np.exp(-self.decision_function(pairs).astype(np.float64)))
        return np.stack([1 - same, same], axis=1)

    def predict(self, pairs) -> np.ndarray:
        return (self.predict_proba(pairs)[:, 1] >= self.threshold_).astype(int)

    def saliency(self, x1, x2) -> tuple[np.ndarray, np.ndarray, float]:
        """(|∂s/∂x1|, |∂s/∂x2|, s) for one pair of images, the gradient of the similarity s over each
        input pixel (largest over channels), on the network's input grid: which pixels made it call them alike."""
        check_is_fitted(self)
        first, second = self._sides(([x1], [x2]))
        device = self.net_.device
        sides = [torch.tensor(self.input_shape_(side), dtype=torch.float32, device=device, requires_grad=True)
                 for side in (first, second)]
        self.net_.eval()
        f1, f2 = self.net_(sides[0]), self.net_(sides[1])
        score = torch.sigmoid(self.loss_.pair_logits(f1, f2)).sum()
        score.backward()
        maps = [side.grad.abs().amax(dim=1)[0].cpu().numpy() for side in sides]
        return maps[0], maps[1], float(score.detach())
