"""Matchers: how alike a query spectrum is to each reference, learned (or not) on training classes.

A matcher has ``fit(x_train, y_train, x_val, y_val, rng)`` and ``similarity(queries, references)``
→ (Q, R), higher = more alike; a query takes the class of its most similar reference.

- ``nn-l2``: nearest neighbour with the Euclidean distance (similarity = −distance);
- ``nn-cosine``: nearest neighbour with the cosine similarity;
- ``lmnn``: Large Margin Nearest Neighbour (Weinberger & Saul 2009, ``metric-learn``) learned on the
  training classes, then the Euclidean nearest neighbour in its space. LMNN's cost grows with the
  square of the dimension, so the spectra are first reduced by a PCA fitted on the training
  classes (``pca_components``); LMNN's target neighbours are k = 1 because many training classes
  hold only two spectra;
- ``siamese``: the Siamese network of Liu et al., trained as :mod:`dissim.oneshot.train`.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from ..errors import UserError
from ..nets import get_topology
from .model import SiameseSpectra
from .train import TrainHistory, TrainSettings, train_siamese_spectra


class NearestL2:
    name = "nn-l2"

    def fit(self, x_train, y_train, x_val=None, y_val=None, rng=None):
        return self

    def similarity(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        q, r = np.asarray(queries, np.float64), np.asarray(references, np.float64)
        squared = (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]
        return -np.sqrt(np.maximum(squared, 0))


class NearestCosine:
    name = "nn-cosine"

    def fit(self, x_train, y_train, x_val=None, y_val=None, rng=None):
        return self

    def similarity(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        q, r = np.asarray(queries, np.float64), np.asarray(references, np.float64)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        return q @ r.T


@functools.cache
def _lmnn_class():
    """metric-learn's LMNN, made to run on scikit-learn >= 1.8.

    metric-learn 0.7.0 (the latest release) passes ``force_all_finite`` to scikit-learn's
    ``check_array``/``check_X_y``, a keyword scikit-learn renamed ``ensure_all_finite`` (1.6) and
    then removed (1.8). The two names are rebound, in metric-learn's own ``_util`` module only, to
    wrappers that translate the keyword; nothing else of scikit-learn or metric-learn changes.
    """
    try:
        import metric_learn
        import metric_learn._util as util
    except ImportError:
        raise UserError("the lmnn baseline needs metric-learn: pip install metric-learn "
                        "(or drop lmnn from the recipe's methods)") from None
    import inspect

    from sklearn.utils import validation

    if "force_all_finite" not in inspect.signature(validation.check_array).parameters:
        def translate(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                if "force_all_finite" in kwargs:
                    kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
                return function(*args, **kwargs)
            return wrapper

        for name in ("check_array", "check_X_y"):
            current = getattr(util, name)
            if not getattr(current, "_dissim_translated", False):
                wrapped = translate(current)
                wrapped._dissim_translated = True
                setattr(util, name, wrapped)
    return metric_learn.LMNN


class LMNNMatcher:
    name = "lmnn"

    def __init__(self, pca_components: int = 50, k: int = 1, max_iter: int = 200, learn_rate: float = 1e-6,
                 random_state: int = 0):
        self.pca_components = pca_components
        self.k = k
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.random_state = random_state

    def fit(self, x_train, y_train, x_val=None, y_val=None, rng=None):
        from sklearn.decomposition import PCA

        x_train = np.asarray(x_train, np.float64)
        components = min(self.pca_components, x_train.shape[1], len(x_train) - 1)
        self.pca_ = PCA(n_components=components, random_state=self.random_state).fit(x_train)
        z = self.pca_.transform(x_train)
        lmnn = _lmnn_class()(n_neighbors=self.k, max_iter=self.max_iter, learn_rate=self.learn_rate,
                             random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; max_iter bounds the run
            self.lmnn_ = lmnn.fit(z, np.asarray(y_train))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.lmnn_.transform(self.pca_.transform(np.asarray(x, np.float64)))

    def similarity(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        return NearestL2().similarity(self.transform(queries), self.transform(references))


class SiameseMatcher:
    name = "siamese"

    def __init__(self, topology: str = "liu-spectra", settings: TrainSettings | None = None, device: str = "cpu",
                 seed: int = 0, progress: bool = False, desc: str = "siamese", features: str = "sigmoid"):
        self.topology = topology
        self.features = features
        self.settings = settings or TrainSettings()
        self.device = device
        self.seed = seed
        self.progress = progress
        self.desc = desc

    def fit(self, x_train, y_train, x_val=None, y_val=None, rng=None):
        torch.manual_seed(self.seed)
        self.model_ = SiameseSpectra(get_topology(self.topology), np.asarray(x_train).shape[1],
                                     self.features).to(self.device)
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        self.history_: TrainHistory = train_siamese_spectra(
            self.model_, x_train, y_train, x_val, y_val, self.settings, rng, progress=self.progress, desc=self.desc)
        return self

    def embed(self, x: np.ndarray) -> torch.Tensor:
        return self.model_.embed(x)

    def similarity(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        return self.model_.similarity(self.embed(queries), self.embed(references)).numpy()


BASE_METHODS = ("nn-l2", "nn-cosine", "lmnn", "siamese")


def parse_method(name: str) -> tuple[str, bool]:
    """'lmnn-als' -> ('lmnn', True): the base method and whether it runs on ALS-corrected spectra."""
    base, als = (name[:-4], True) if name.endswith("-als") else (name, False)
    if base not in BASE_METHODS:
        raise UserError(f"unknown one-shot method {name!r}: known are "
                        f"{', '.join(BASE_METHODS)}, each also with the suffix -als (baseline-corrected spectra)")
    return base, als
