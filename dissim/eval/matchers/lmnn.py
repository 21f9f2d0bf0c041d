"""``lmnn``: Large Margin Nearest Neighbour (Weinberger & Saul 2009, ``metric-learn``) learned on the
training classes after a PCA, then the Euclidean distance in its space."""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ...data.arrays import check_labels
from ...errors import UserError
from ...train.params import POSITIVE, at_least
from .base import Matcher
from .nearest_l2 import NearestL2
from .registry import MATCHERS


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
        raise UserError("the lmnn matcher needs metric-learn: pip install metric-learn") from None
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


@MATCHERS.register("lmnn")
class LMNNMatcher(Matcher):
    """LMNN (k target neighbours, k = 1 by default since many classes hold two items) on a PCA of
    ``pca_components`` fitted on the training classes; then the Euclidean distance."""

    recipe_settings = {"pca_components": "lmnn_pca", "k": "lmnn_k", "max_iter": "lmnn_max_iter"}
    _parameter_constraints = {"pca_components": [at_least(1)], "k": [at_least(1)], "max_iter": [at_least(1)],
                               "learn_rate": [POSITIVE], "random_state": ["random_state"]}

    def __init__(self, pca_components: int = 50, k: int = 1, max_iter: int = 200, learn_rate: float = 1e-6,
                 random_state=0):
        self.pca_components = pca_components
        self.k = k
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.random_state = random_state

    def fit(self, X, y) -> "LMNNMatcher":
        from sklearn.decomposition import PCA

        self._validate_params()
        X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        y = check_labels(y, type(self).__name__)
        components = min(self.pca_components, X.shape[1], len(X) - 1)
        self.pca_ = PCA(n_components=components, random_state=self.random_state).fit(X)
        lmnn = _lmnn_class()(n_neighbors=self.k, max_iter=self.max_iter, learn_rate=self.learn_rate,
                             random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; max_iter bounds the run
            self.lmnn_ = lmnn.fit(self.pca_.transform(X), y)
        self.n_iter_ = getattr(self.lmnn_, "n_iter_", self.max_iter)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.lmnn_.transform(self.pca_.transform(validate_data(self, X, reset=False, dtype=np.float64)))

    compare = staticmethod(NearestL2.compare)
