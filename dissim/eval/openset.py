"""Open-set identification: classify into the known classes, or answer "unknown" for a class never
seen in training (the EMIS Siamese-CNN, J. Electron. Test. 2023; and the closed-set baselines).

Both estimators train a twin of ``topology`` on the known classes, then calibrate a rejection
threshold on their training items with one rule: the threshold lets through all but a fraction
``false_rejection`` of the training items (their score for their own class), so a query is called
unknown when it looks less like any known class than that fraction of the training data looks like
its own. ``threshold`` sets it by hand instead.

- :class:`OpenSetSiamese`: a Siamese twin (``loss="contrastive-ce"``, the paper's eq. 22, or
  ``"contrastive"``, eq. 21 alone); a query goes to the known class whose centre (mean training
  feature) is nearest, or is unknown when that distance exceeds the threshold.
- :class:`OpenSetCNN`: the same sub-network as a plain softmax classifier (cross-entropy); with
  ``reject=True`` a query whose largest softmax probability (``rejection_score="max-softmax"``) or negative
  energy, logsumexp of the logits (``rejection_score="energy"``, Liu et al., NeurIPS 2020), falls below the
  threshold is unknown, with ``reject=False`` it never answers unknown (the closed-set CNN).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..data.arrays import check_inputs
from ..nets import get_topology
from ..train import RETRIES, TwinConfig, TwinTraining, get_loss, resolve_seed
from ..train.params import FINITE, FRACTION, NON_NEGATIVE, TRAINING, at_least


class _OpenSet(TwinTraining, ClassifierMixin, BaseEstimator):
    """Training, calibration and prediction shared by the open-set estimators."""

    _parameter_constraints = {
        **TRAINING, **RETRIES, "epochs": [at_least(1)], "input_gate": ["array-like", None], "false_rejection": [FRACTION],
        "threshold": [FINITE, None], "unknown_label": "no_validation",
    }

    def _fit_twin(self, X, y, loss: str, loss_options: dict, sampler_options: dict | None = None):
        self._validate_params()
        inputs, y = self._labelled(X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        topology = get_topology(self.topology)
        network_inputs = self._fit_input_shape(topology, inputs)(inputs)
        gate = None
        if self.input_gate is not None:
            gate = np.asarray(self.input_gate, dtype=np.float32).ravel()
            if len(gate) != self.input_shape_.size:
                raise ValueError(f"input_gate has {len(gate)} values; the network input has {self.input_shape_.size}")
        seed = resolve_seed(self.random_state)
        self._resolve_compute(topology)
        config = TwinConfig(topology=topology, loss=loss, loss_options={"n_classes": len(self.classes_), **loss_options},
                            optimizer="adam", lr=float(self.lr), betas=tuple(self.betas), batch_size=int(self.batch_size),
                            iterations=None, epochs=int(self.epochs), sampler_options=sampler_options or {},
                            activation="none", input_gate=gate)
        twin, self.attempts_ = self._train_twin(network_inputs, codes, config, seed=seed,
                                                rng=np.random.default_rng(seed), desc=f"{type(self).__name__} {topology.name}")
        self.net_, self.loss_, self.history_ = twin.net, twin.loss, twin.history
        return network_inputs, codes

    def _calibrated(self, own_scores: np.ndarray) -> float:
        """The threshold that rejects a fraction ``false_rejection`` of the training items (their
        ``own_scores``), or ``threshold`` when it is given; a query scoring below it is unknown."""
        if self.threshold is not None:
            return float(self.threshold)
        return float(np.quantile(own_scores, self.false_rejection))

    def _features(self, X) -> torch.Tensor:
        check_is_fitted(self)
        return self.net_.embed(self.input_shape_(check_inputs(X)))[0]

    def decision_function(self, X) -> np.ndarray:
        """The per-class scores (n, classes) (``class_scores``); with two classes the second minus the first (n,)."""
        scores = self.class_scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def _known_score(self, X, scores: np.ndarray) -> np.ndarray:
        """How much each item looks like a known class (its rejection score): its best class score."""
        return scores.max(axis=1)

    def predict(self, X) -> np.ndarray:
        """A known class, or ``unknown_label`` (then the array holds objects)."""
        scores = self.class_scores(X)
        labels = self.classes_[np.argmax(scores, axis=1)]
        rejected = self._known_score(X, scores) < self.threshold_
        if not rejected.any():
            return labels
        out = labels.astype(object)
        out[rejected] = self.unknown_label
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class OpenSetSiamese(_OpenSet):
    """The open-set Siamese-CNN: nearest known-class centre in the twin's feature space, or unknown.

    Its class scores are minus the distance to every known class centre (n, classes); a query
    is unknown when its smallest distance exceeds ``threshold_`` (calibrated as the module says, on
    the distances of the training items to their own class centre). ``loss``, ``margin`` (None: the
    largest distance between class centres, eq. 10), ``alpha1``, ``alpha2``, ``ce_margin`` and
    ``ce_weight`` are those of :mod:`dissim.train.losses.contrastive`; pairs hold
    ``negatives_per_positive`` different-class pairs per same-class pair; ``input_gate`` is the
    fixed background vector b of the input layer σ(x ⊙ b).
    """

    _parameter_constraints = {
        **_OpenSet._parameter_constraints, "loss": [StrOptions({"contrastive", "contrastive-ce"})],
        "margin": [NON_NEGATIVE, None], "alpha1": [NON_NEGATIVE], "alpha2": [NON_NEGATIVE], "ce_margin": [NON_NEGATIVE],
        "ce_weight": [NON_NEGATIVE], "negatives_per_positive": [at_least(1)],
    }

    def __init__(self, topology="emis-cnn1d", loss="contrastive-ce", margin=None, alpha1=1.0, alpha2=1.0,
                 ce_margin=2.5, ce_weight=1.0, negatives_per_positive=3, epochs=200, batch_size=64, lr=1e-3,
                 betas=(0.9, 0.999), input_gate=None, false_rejection=0.05, threshold=None, unknown_label="unknown",
                 input_size=None, device="auto", precision="auto", max_reruns=0, converge_ratio=0.9, random_state=None,
                 verbose=False):
        self.topology = topology
        self.loss = loss
        self.margin = margin
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.ce_margin = ce_margin
        self.ce_weight = ce_weight
        self.negatives_per_positive = negatives_per_positive
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.input_gate = input_gate
        self.false_rejection = false_rejection
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.input_size = input_size
        self.device = device
        self.precision = precision
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y) -> "OpenSetSiamese":
        offered = {"margin": self.margin, "alpha1": self.alpha1, "alpha2": self.alpha2, "ce_margin": self.ce_margin,
                   "ce_weight": self.ce_weight}
        accepted = inspect.signature(get_loss(self.loss)).parameters  # each loss takes the options it declares
        options = {name: value for name, value in offered.items() if name in accepted}
        inputs, codes = self._fit_twin(X, y, self.loss, options, {"negatives_per_positive": int(self.negatives_per_positive)})
        features = self.net_.embed(inputs)[0]
        self.centres_ = torch.stack([features[torch.as_tensor(codes == c)].mean(0) for c in range(len(self.classes_))])
        own = torch.linalg.norm(features - self.centres_[torch.as_tensor(codes)], dim=1).cpu().numpy()
        self.threshold_ = self._calibrated(-own)
        return self

    def class_scores(self, X) -> np.ndarray:
        """Minus the distance to every known class centre (n, classes)."""
        return -torch.cdist(self._features(X), self.centres_).cpu().numpy()


class OpenSetCNN(_OpenSet):
    """The same sub-network as a softmax classifier over the known classes (cross-entropy), the
    paper's closed-set CNN; ``reject=True`` adds rejection by ``rejection_score``: "max-softmax" (the
    maximum softmax probability) or "energy" (the negative energy, logsumexp of the logits). ``fit``
    calibrates a threshold for each score (``thresholds_``); ``set_params(rejection_score=...)``
    switches between them without retraining. (Not ``score``: that name is the classifier's
    ``score(X, y)`` method.)

    Its class scores are the softmax probabilities (n, classes).
    """

    SCORES = ("max-softmax", "energy")
    _parameter_constraints = {**_OpenSet._parameter_constraints, "reject": ["boolean"],
                              "rejection_score": [StrOptions(set(SCORES))]}

    def __init__(self, topology="emis-cnn1d", reject=True, rejection_score="max-softmax", epochs=200, batch_size=64, lr=1e-3,
                 betas=(0.9, 0.999), input_gate=None, false_rejection=0.05, threshold=None, unknown_label="unknown",
                 input_size=None, device="auto", precision="auto", max_reruns=0, converge_ratio=0.9, random_state=None,
                 verbose=False):
        self.topology = topology
        self.reject = reject
        self.rejection_score = rejection_score
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.input_gate = input_gate
        self.false_rejection = false_rejection
        self.threshold = threshold
        self.unknown_label = unknown_label
        self.input_size = input_size
        self.device = device
        self.precision = precision
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y) -> "OpenSetCNN":
        if self.rejection_score not in self.SCORES:
            raise ValueError(f"rejection_score must be one of {', '.join(self.SCORES)}, got {self.rejection_score!r}")
        inputs, codes = self._fit_twin(X, y, "cross-entropy", {})
        logits = self._logits(self.net_.embed(inputs)[0])
        own = {"max-softmax": _softmax(logits)[np.arange(len(codes)), codes], "energy": _negative_energy(logits)}
        # a closed-set classifier (reject=False) never answers unknown
        self.thresholds_ = {score: self._calibrated(values) if self.reject else -np.inf
                            for score, values in own.items()}
        return self

    @property
    def threshold_(self) -> float:
        """The threshold of the current ``rejection_score``."""
        return self.thresholds_[self.rejection_score]

    def _logits(self, features: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.loss_.logits(features).float().cpu().numpy()

    def class_scores(self, X) -> np.ndarray:
        """The softmax probabilities (n, classes)."""
        return _softmax(self._logits(self._features(X)))

    def _known_score(self, X, scores: np.ndarray) -> np.ndarray:
        if self.rejection_score == "energy":
            return _negative_energy(self._logits(self._features(X)))
        return scores.max(axis=1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _negative_energy(logits: np.ndarray) -> np.ndarray:
    """logsumexp of the logits: minus the free energy at temperature 1 (higher = more like a known class)."""
    from scipy.special import logsumexp

    return logsumexp(logits, axis=1)
