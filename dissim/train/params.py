"""Parameter constraints shared by the estimators that train a twin, in scikit-learn's form.

Each estimator lists its parameters in a class-level ``_parameter_constraints`` dict built from
these pieces, and ``fit`` starts with ``self._validate_params()`` (scikit-learn's own check): a
bad value (wrong type, NaN, out of range) is an ``InvalidParameterError`` (a ``ValueError`` and a
``TypeError``) that names the parameter, raised before any training.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from ..errors import UserError
from ..hardware import PRECISIONS
from ..nets import Topology


def at_least(least: int) -> Interval:
    """Integers >= ``least``."""
    return Interval(Integral, least, None, closed="left")


POSITIVE = Interval(Real, 0, None, closed="neither")  # finite, > 0 (NaN and inf are refused)
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
FRACTION = Interval(Real, 0, 1, closed="left")  # [0, 1)
PROBABILITY = Interval(Real, 0, 1, closed="both")
FINITE = Interval(Real, None, None, closed="neither")



class _Rule(Options):
    """A constraint of its own for scikit-learn's parameter validation (which takes only its own
    constraint classes, so this is one of them): ``is_satisfied_by`` and ``__str__`` say the rule."""

    def __init__(self):
        super().__init__(object, set())


class _Betas(_Rule):
    """Adam's betas: two numbers in [0, 1) (scikit-learn's own constraints do not look inside a tuple)."""

    def is_satisfied_by(self, val) -> bool:
        try:
            return len(val) == 2 and all(isinstance(b, Real) and not isinstance(b, bool) and 0 <= b < 1 for b in val)
        except TypeError:
            return False

    def __str__(self) -> str:
        return "two numbers in [0, 1)"


class _DistinctPositiveIntegers(_Rule):
    """One integer >= 1, or a non-empty list or tuple of distinct ones (k prototypes per class)."""

    def is_satisfied_by(self, val) -> bool:
        values = (val,) if isinstance(val, Integral) else val
        if not isinstance(values, (list, tuple)) or not values:
            return False
        return all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in values) and \
            len(set(values)) == len(values)

    def __str__(self) -> str:
        return "a positive integer or a list of distinct positive integers"


BETAS = _Betas()
DISTINCT_POSITIVE_INTEGERS = _DistinctPositiveIntegers()

TRAINING = {
    "topology": [str, os.PathLike, Topology],
    "batch_size": [at_least(2)],
    "lr": [POSITIVE],
    "betas": [BETAS],
    "input_size": [at_least(1), None],
    "device": [str],
    "precision": [StrOptions(set(PRECISIONS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def check_flags(estimator, flags: dict[str, str]) -> None:
    """The estimator's constraints checked for the parameters that came from command-line ``flags``
    (parameter -> flag); a UserError naming the flag and what it must be, before any work."""
    params = estimator.get_params(deep=False)
    for name, flag in flags.items():
        try:
            validate_parameter_constraints({name: estimator._parameter_constraints[name]}, {name: params[name]},
                                           caller_name=type(estimator).__name__)
        except InvalidParameterError as exc:
            wanted = str(exc).split(" must be ", 1)[-1].split(". Got ", 1)[0]
            raise UserError(f"{flag} {params[name]}: must be {wanted}") from None
