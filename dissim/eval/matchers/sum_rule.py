"""The sum rule over matchers: each member's similarities z-scored, then summed.

A member's similarities (queries x references) are put on a common scale by one affine map per
member, :class:`~dissim.eval.fusion.ZScore` fitted on that member's similarities *among the
references* (every pair of distinct references): the library itself fixes the scale, so no query
and no label takes part, and a query's fused similarities do not depend on the other queries. The
z-scored similarities are summed (:func:`~dissim.eval.fusion.sum_rule`, the rule the image
ensembles use); a query takes the class of the reference with the largest sum.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ..fusion import sum_rule
from .base import Matcher
from .registry import MATCHERS


def fuse_similarities(query_similarities: Sequence[np.ndarray],
                      reference_similarities: Sequence[np.ndarray]) -> np.ndarray:
    """The fused (Q, R) similarity of members' (Q, R) query-reference similarities, each z-scored with
    the mean and standard deviation of its (R, R) similarities between distinct references."""
    if not query_similarities:
        raise ValueError("a fusion needs at least one member")
    statistics = []
    for among in reference_similarities:
        among = np.asarray(among, dtype=np.float64)
        if among.ndim != 2 or among.shape[0] != among.shape[1] or len(among) < 2:
            raise ValueError(f"the similarities among the references must be a square matrix of at least two "
                             f"references, got shape {among.shape}")
        statistics.append(among[~np.eye(len(among), dtype=bool)])
    return sum_rule([np.asarray(s, dtype=np.float64) for s in query_similarities], statistics)


@MATCHERS.register("sum-rule")
class SumRuleMatcher(Matcher):
    """Matchers fused by the sum rule of z-scored similarities (see the module docstring).

    ``members`` is a list of ``(name, matcher)``; each is cloned and fitted on the same (X, y) (a
    member whose ``fit`` takes ``validation`` gets it). ``transform`` gives the members' features
    side by side; ``similarity`` the fused similarity. To fuse matchers that see differently
    preprocessed spectra, fuse their similarity matrices with :func:`fuse_similarities`.
    """

    def __init__(self, members=None):
        self.members = members

    _parameter_constraints = {"members": [list, tuple, None]}
    fuses = True

    @classmethod
    def recipe_note(cls, settings) -> str:
        return (" a+b: the sum rule: each member's query-reference similarities z-scored with the mean and standard "
                "deviation of its similarities between distinct references, then summed.")

    def fit(self, X, y, validation=None) -> "SumRuleMatcher":
        self._validate_params()
        if y is None:
            raise ValueError("SumRuleMatcher requires y to be passed, but the target y is None")
        if not self.members:
            raise ValueError("members is empty: give a list of (name, matcher)")
        names = [name for name, _ in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"member names must be unique, got {names}")
        self.members_ = []
        for _, matcher in self.members:
            member = clone(matcher)
            takes_validation = "validation" in inspect.signature(member.fit).parameters
            member.fit(X, y, validation=validation) if takes_validation and validation is not None else member.fit(X, y)
            self.members_.append(member)
        if hasattr(self.members_[0], "n_features_in_"):
            self.n_features_in_ = self.members_[0].n_features_in_
        return self

    @property
    def named_members_(self) -> dict:
        check_is_fitted(self)
        return dict(zip((name for name, _ in self.members), self.members_))

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return np.hstack([np.asarray(m.transform(X), dtype=np.float64) for m in self.members_])

    def similarity(self, queries, references) -> np.ndarray:
        """The fused (Q, R) similarity."""
        check_is_fitted(self)
        return fuse_similarities([m.similarity(queries, references) for m in self.members_],
                                 [m.similarity(references, references) for m in self.members_])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
