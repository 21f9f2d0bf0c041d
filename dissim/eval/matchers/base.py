"""What every matcher is: a transformer whose ``similarity(Q, R)`` compares transformed items, and
the base of matchers that learn nothing."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ...errors import UserError


class Matcher(TransformerMixin, BaseEstimator):
    """similarity(Q, R) = the matcher's comparison of transform(Q) with transform(R).

    A matcher that a library file can hold declares ``state_kind`` (the name the file stores it
    under, fixed by the file format), ``fitted_state()`` (its fitted state as plain tensors and
    values) and the class method ``from_state(state, where)`` that rebuilds it on the CPU
    (:mod:`dissim.eval.matcher_state`)."""

    state_kind: str | None = None  # None: cannot be saved in a library file
    # What a recipe sets, declared by the matcher so that protocols need not know it by name: the
    # parameter -> the recipe setting (of a one-shot recipe's [settings]) that gives its value ...
    recipe_settings: dict[str, str] = {}
    trains_network = False  # ... and whether fitting trains a network (it then takes the training settings)
    is_siamese = False  # a Siamese network: its rows face the baselines, its features and training are drawn
    predicts_class = False  # a classifier of the training classes: predict() answers, it has no similarities to fuse
    built_on: str | None = None  # the matcher whose trained networks it learns on (one training serves both)
    fuses = False  # joins other matchers' similarities: a recipe names it by the methods it joins

    @classmethod
    def recipe_note(cls, settings) -> str:
        """The sentence a one-shot table's header says of this matcher, from the recipe's ``settings``
        (empty where the header describes it elsewhere)."""
        return ""

    def similarity(self, queries, references) -> np.ndarray:
        """How alike each query is to each reference, (queries, references); higher is more alike."""
        return self.compare(self.transform(queries), self.transform(references))

    def fitted_state(self) -> dict:
        """The fitted state as plain tensors and values, for a library file (``state_kind`` names it)."""
        raise UserError(f"a {type(self).__name__} cannot be saved in a library file")

    @classmethod
    def from_state(cls, state: dict, where: str) -> "Matcher":
        """The matcher rebuilt on the CPU from a library file's ``params`` and :meth:`fitted_state`."""
        raise UserError(f"{where}: a {cls.__name__} cannot be read from a library file")


class Unlearned(Matcher):
    """A matcher that learns nothing: ``fit`` only checks and records the input width."""

    _parameter_constraints: dict = {}

    def fit(self, X, y=None) -> "Unlearned":
        validate_data(self, X, reset=True)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)

    def fitted_state(self) -> dict:
        return {"n_features_in": int(self.n_features_in_)}

    @classmethod
    def from_state(cls, state: dict, where: str) -> "Unlearned":
        matcher = cls(**state["params"])
        matcher.n_features_in_ = state["n_features_in"]
        return matcher
