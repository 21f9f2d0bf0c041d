"""Saving a fitted matcher as plain tensors and values, read back with ``torch.load(weights_only=True)``
(the format of :mod:`dissim.library` files). Each matcher that can be saved declares how
(:class:`~dissim.eval.matchers.base.Matcher`: ``state_kind``, ``fitted_state``, ``from_state``)."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..errors import UserError
from .matchers import MATCHERS


def matcher_state(matcher) -> dict:
    """A fitted matcher as plain data; matchers that hold foreign objects (LMNN) cannot be saved."""
    check_is_fitted(matcher)
    if getattr(matcher, "state_kind", None) is None:
        raise UserError(f"a {type(matcher).__name__} cannot be saved in a library file; use a siamese or "
                        "nearest-neighbour matcher")
    params = {k: v for k, v in matcher.get_params().items() if k != "topology"}
    return {"kind": matcher.state_kind, "params": params, **matcher.fitted_state()}


def matcher_from_state(state: dict, where: str = "saved matcher"):
    """The fitted matcher that :func:`matcher_state` described (on the CPU); UserError naming
    ``where`` when the description is damaged."""
    try:
        return _matcher_from_state(state, where)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise UserError(f"{where}: the matcher stored there is damaged ({type(exc).__name__}: {exc}); "
                        "rebuild the file") from None


def _matcher_from_state(state: dict, where: str):
    kind = state["kind"]
    known = isinstance(kind, str) and ":" not in kind and kind in MATCHERS  # a file never names code to import
    cls = MATCHERS.get(kind) if known else None
    if cls is None or getattr(cls, "state_kind", None) != kind:
        raise UserError(f"{where}: unknown matcher kind {kind!r}")
    return cls.from_state(state, where)
