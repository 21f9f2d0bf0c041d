"""LMNN on a Siamese network's embedding: the network maps spectra to features, LMNN learns a
metric on the features of the training items, and spectra are compared by the Euclidean distance
in LMNN's space."""

from __future__ import annotations

from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .base import Matcher
from .lmnn import LMNNMatcher
from .nearest_l2 import NearestL2
from .registry import MATCHERS
from .siamese import SiameseMatcher


@MATCHERS.register("siamese-lmnn")
class EmbeddingLMNNMatcher(Matcher):
    """LMNN (:class:`~dissim.eval.matchers.LMNNMatcher`: ``pca_components``, ``k``, ``max_iter``,
    ``learn_rate``) learned on ``embedding.transform`` of the training items.

    ``embedding`` is a matcher with ``transform`` (None: ``SiameseMatcher()``), cloned and fitted on
    the same (X, y) (with ``validation`` when its ``fit`` takes it); with ``prefit=True`` it is used
    as it is, already fitted (a network trained once serves several matchers), and ``fit`` learns
    only LMNN, on the items it is given.
    """

    recipe_settings = LMNNMatcher.recipe_settings
    built_on = "siamese"

    @classmethod
    def recipe_note(cls, settings) -> str:
        return (" siamese-lmnn: LMNN (as below) learned on the features that the siamese row's networks give the "
                "training classes' spectra, then the Euclidean distance in its space.")
    _parameter_constraints = {**LMNNMatcher._parameter_constraints, "embedding": [HasMethods(["fit", "transform"]), None],
                              "prefit": ["boolean"]}

    def __init__(self, embedding=None, prefit=False, pca_components=50, k=1, max_iter=200, learn_rate=1e-6,
                 random_state=0):
        self.embedding = embedding
        self.prefit = prefit
        self.pca_components = pca_components
        self.k = k
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.random_state = random_state

    def fit(self, X, y, validation=None) -> "EmbeddingLMNNMatcher":
        self._validate_params()
        if self.prefit:
            if self.embedding is None:
                raise ValueError("prefit=True needs a fitted embedding matcher")
            check_is_fitted(self.embedding)
            self.embedding_ = self.embedding
        else:
            embedding = clone(self.embedding) if self.embedding is not None else SiameseMatcher()
            self.embedding_ = (embedding.fit(X, y, validation=validation) if validation is not None
                               else embedding.fit(X, y))
        self.lmnn_ = LMNNMatcher(pca_components=self.pca_components, k=self.k, max_iter=self.max_iter,
                                 learn_rate=self.learn_rate, random_state=self.random_state)
        self.lmnn_.fit(self.embedding_.transform(X), y)
        self.n_iter_ = self.lmnn_.n_iter_  # LMNN's iterations (max_iter bounds them)
        if hasattr(self.embedding_, "n_features_in_"):
            self.n_features_in_ = self.embedding_.n_features_in_
        return self

    def transform(self, X):
        check_is_fitted(self)
        return self.lmnn_.transform(self.embedding_.transform(X))

    compare = staticmethod(NearestL2.compare)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
