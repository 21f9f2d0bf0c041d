"""Parameter constraints shared by the estimators that train a twin, in scikit-learn's form.

Each estimator lists its parameters in a class-level ``_parameter_constraints`` dict built from
these pieces, and ``fit`` starts with ``self._validate_params()`` (scikit-learn's own check): a
bad value (wrong type, NaN, out of range) is an ``InvalidParameterError`` (a ``ValueError`` and a
``TypeError``) that names the parameter, raised before any training.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

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

TRAINING = {
    "topology": [str, os.PathLike, Topology],
    "batch_size": [at_least(2)],
    "lr": [POSITIVE],
    "betas": [tuple, list],
    "input_size": [at_least(1), None],
    "device": [str],
    "precision": [StrOptions(set(PRECISIONS))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def check_betas(betas) -> None:
    """Adam's betas: two numbers in [0, 1); ValueError naming ``betas`` otherwise (scikit-learn's
    constraints do not look inside a tuple)."""
    try:
        ok = len(betas) == 2 and all(isinstance(b, Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
