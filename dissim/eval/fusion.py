"""Score normalisation and fusion: per-class scores of members, z-scored, then summed (the paper's
sum rule) or weighted by weights learned on the training fold only (:func:`forward_selection`).

``SumRuleEnsemble`` is the scikit-learn classifier form; ``sum_rule`` the same arithmetic on
stored scores (the command line fuses members from its cache with it, so both give one answer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_array, check_is_fitted

from ..data.arrays import check_labels


class ZScore(TransformerMixin, BaseEstimator):
    """One member's scores to mean 0, std 1, with the statistics of its training-fold scores.

    The mean and standard deviation are taken over the whole (n, classes) training score matrix,
    a single affine map per member: it keeps each member's own decisions and puts members on a
    common scale before they are summed (the paper: "normalized to mean 0 and standard deviation 1").
    """

    _parameter_constraints: dict = {}

    def fit(self, X, y=None) -> "ZScore":
        X = _scores(X)
        self.mean_ = float(X.mean())
        self.std_ = float(X.std()) or 1.0
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return (_scores(X) - self.mean_) / self.std_


def _scores(X) -> np.ndarray:
    """Scores of any shape as float64; sparse, complex, empty and non-finite ones refused."""
    return check_array(X, dtype=np.float64, ensure_2d=False, allow_nd=True, input_name="scores")


def class_scores(decision: np.ndarray) -> np.ndarray:
    """One score column per class: a binary decision value d (n,) becomes (−d, d)."""
    decision = np.asarray(decision)
    return np.stack([-decision, decision], axis=1) if decision.ndim == 1 else decision


def sum_rule(test_scores: Sequence[np.ndarray], train_scores: Sequence[np.ndarray] | None = None, *,
             zscores: Sequence[ZScore] | None = None) -> np.ndarray:
    """The sum rule: the sum of the members' z-scored test scores, each normalised by its own training
    scores (or by its fitted ``zscores``, one per member)."""
    if not test_scores:
        raise ValueError("a fusion needs at least one member")
    if zscores is None:
        zscores = [ZScore().fit(train) for train in train_scores]
    return sum(z.transform(test) for test, z in zip(test_scores, zscores, strict=True))


def weighted_sum(scores: Sequence[np.ndarray], zscores: Sequence[ZScore], weights) -> np.ndarray:
    """Sum over members of weight x z-scored scores (the sum rule with all weights 1)."""
    return sum(w * z.transform(s) for s, z, w in zip(scores, zscores, weights, strict=True) if w)


# How much an addition must raise the out-of-fold accuracy (a fraction of the items) to be made. The
# out-of-fold scores of members whose network saw the items are optimistic, unevenly: without a margin
# the selection chased the most optimistic member and lost to the sum rule by up to 0.48 points on the
# development splits; with 0.005 it matched or beat the sum rule on all of them (docs/fusion.md).
MIN_GAIN = 0.005


def forward_selection(inner_scores: Sequence[np.ndarray], labels: np.ndarray,
                      max_steps: int | None = None, min_gain: float = MIN_GAIN) -> np.ndarray:
    """Member weights (summing to 1) chosen on out-of-fold scores of the training fold only: greedy
    forward selection with replacement (Caruana et al., ICML 2004, "Ensemble selection from
    libraries of models"), started from every member once (their sum rule).

    ``inner_scores``: per member, its (n, classes) scores of the training items, each item scored by
    a model that did not see it (``cross_val_predict``); ``labels``: the items' class indices (the
    score columns). Each member is z-scored by its own inner scores. Each step adds one member
    (again, if that is best) to the sum: the one whose addition gives the highest inner accuracy,
    ties broken by the mean margin (true-class score minus the best other, of the mean of the
    chosen z-scored scores), then by order; it stops when no addition raises the inner accuracy by
    more than ``min_gain`` (a fraction of the items), or after ``max_steps`` additions (default
    twice the members, at least 10). A member's weight is one plus how often it was added. Where
    the inner scores cannot tell members apart (every member right on every item), the weights stay
    those of the sum rule.
    """
    if not inner_scores:
        raise ValueError("a fusion needs at least one member")
    labels = np.asarray(labels)
    z = [ZScore().fit(s).transform(s) for s in inner_scores]
    rows = np.arange(len(labels))
    steps = max_steps if max_steps is not None else max(10, 2 * len(z))

    def quality(total: np.ndarray, count: int) -> tuple[float, float]:
        mean = total / count
        other = np.where(np.arange(mean.shape[1]) == labels[:, None], -np.inf, mean).max(axis=1)
        return float(np.mean(np.argmax(mean, axis=1) == labels)), float(np.mean(mean[rows, labels] - other))

    counts = np.ones(len(z), dtype=int)
    total = sum(z)
    current = quality(total, len(z))[0]
    for _ in range(steps):
        n = int(counts.sum()) + 1
        (accuracy_, _), pick = max((quality(total + member, n), -i) for i, member in enumerate(z))
        if accuracy_ <= current + min_gain:
            break
        counts[-pick] += 1
        total, current = total + z[-pick], accuracy_
    return counts / counts.sum()


def _member_scores(estimator, X) -> np.ndarray:
    if hasattr(estimator, "decision_function"):
        return class_scores(estimator.decision_function(X))
    return np.asarray(estimator.predict_proba(X))


class SumRuleEnsemble(ClassifierMixin, _BaseComposition):
    """The sum rule of the paper: members' per-class scores, z-scored, summed; the argmax wins.

    ``members`` is a list of ``(name, estimator)``; each member is cloned and fitted on the same
    (X, y) and must give ``decision_function`` (preferred) or ``predict_proba``. Each member's
    z-score statistics come from its scores on the training data (one affine map per member).
    ``decision_function`` returns the fused scores (n, n_classes), or for two classes the
    difference of the two columns (n,); ``predict_proba`` is their softmax, a convenience ranking,
    not a calibrated probability.
    """

    _parameter_constraints = {"members": [list, tuple]}

    def __init__(self, members):
        self.members = members

    def get_params(self, deep=True):
        return self._get_params("members", deep=deep)

    def set_params(self, **params):
        self._set_params("members", **params)
        return self

    def fit(self, X, y) -> "SumRuleEnsemble":
        self._validate_params()
        if not self.members:
            raise ValueError("members is empty: give a list of (name, estimator)")
        names = [name for name, _ in self.members]
        self._validate_names(names)
        for name, estimator in self.members:
            if not (hasattr(estimator, "decision_function") or hasattr(estimator, "predict_proba")):
                raise ValueError(f"member {name!r} has neither decision_function nor predict_proba")
        y = check_labels(y, "SumRuleEnsemble")
        self.classes_ = np.unique(y)
        self.estimators_ = [clone(estimator).fit(X, y) for _, estimator in self.members]
        self.zscores_ = [ZScore().fit(_member_scores(e, X)) for e in self.estimators_]
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_
        return self

    @property
    def named_members_(self) -> dict:
        """The fitted members by name."""
        check_is_fitted(self)
        return dict(zip((name for name, _ in self.members), self.estimators_))

    def _fused(self, X) -> np.ndarray:
        check_is_fitted(self)
        return sum_rule([_member_scores(e, X) for e in self.estimators_], zscores=self.zscores_)

    def decision_function(self, X) -> np.ndarray:
        fused = self._fused(X)
        return fused[:, 1] - fused[:, 0] if len(self.classes_) == 2 else fused

    def predict(self, X) -> np.ndarray:
        fused = self._fused(X)
        return self.classes_[np.argmax(fused, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # X goes to the members as it is: they accept it or refuse it
        return tags

    def predict_proba(self, X) -> np.ndarray:
        fused = self._fused(X)
        shifted = np.exp(fused - fused.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
