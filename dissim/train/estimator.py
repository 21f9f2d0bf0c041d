"""What every estimator that trains a twin does the same way: its labelled inputs checked, its input
shape fitted, its seed and its :class:`~dissim.hardware.Compute` resolved once, and the twin trained
with retries (:func:`~dissim.train.twin.train_twin_with_retries`). The estimators keep only what
differs: the loss, sampler, optimizer and what they make of the trained twin."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ..data.arrays import InputShape, check_labelled
from ..hardware import Compute, resolve_compute
from .params import POSITIVE, at_least
from .twin import TrainedTwin, TrainingAttempts, TwinConfig, train_twin_with_retries

RETRIES = {"max_reruns": [at_least(0)], "converge_ratio": [POSITIVE]}  # the parameters of :class:`TwinTraining`


def resolve_seed(random_state) -> int:
    """An int seed from ``random_state`` (an int is used as is; None or a RandomState draws one)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class TwinTraining:
    """The fit path shared by every estimator that trains a twin (a mixin left of its scikit-learn base).

    It reads the estimator's ``device``, ``precision``, ``input_size``, ``max_reruns``,
    ``converge_ratio`` and ``verbose`` parameters, and sets ``compute_`` (with ``device_`` and
    ``precision_``), ``input_shape_`` (``input_size_``, ``n_features_in_`` for spectra) and
    ``attempts_``. A training whose loss does not fall (:func:`~dissim.train.twin.converged` with
    ``converge_ratio``) is rerun from a new initialisation at most ``max_reruns`` times; running out of
    GPU memory retries with a smaller batch.
    """

    def _labelled(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, y) checked, with at least two classes to learn from."""
        inputs, y = check_labelled(X, y, type(self).__name__)
        found = np.unique(y)
        if len(found) < 2:
            raise ValueError(f"{type(self).__name__} needs at least two classes to learn from; y has 1 class "
                             f"({found[0]!r})")
        return inputs, y

    def _fit_input_shape(self, topology, inputs: np.ndarray) -> InputShape:
        """The input shape fitted to ``inputs`` (images padded and resized, spectra of one length)."""
        self.input_shape_ = InputShape(topology, self.input_size, type(self).__name__).fit(inputs)
        self.input_size_ = self.input_shape_.size
        if self.input_shape_.n_features is not None:
            self.n_features_in_ = self.input_shape_.n_features
        return self.input_shape_

    def _resolve_compute(self, topology) -> Compute:
        """The device and precision asked for, resolved once for this fit."""
        self.compute_ = resolve_compute(self.device, self.precision, dims=topology.dims,
                                        pretrained=topology.pretrained_network is not None,
                                        size=self.input_shape_.size)
        self.device_, self.precision_ = self.compute_.device, self.compute_.precision
        return self.compute_

    def _train_twin(self, network_inputs: np.ndarray, labels: np.ndarray, config: TwinConfig, *, seed: int,
               rng: np.random.Generator, validation=None, desc: str) -> tuple[TrainedTwin, TrainingAttempts]:
        """The twin trained on ``compute_`` with retries; the first attempt is exactly ``train_twin``'s."""
        return train_twin_with_retries(
            network_inputs, labels, config, seed=seed, rng=rng, max_reruns=int(self.max_reruns),
            converge_ratio=float(self.converge_ratio), compute=self.compute_, validation=validation,
            progress=bool(self.verbose), desc=desc)


__all__ = ["RETRIES", "TwinTraining", "resolve_seed"]
