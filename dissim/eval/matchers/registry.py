"""The matcher registry: every matcher module registers its class here by name."""

from __future__ import annotations

from ...errors import UserError
from ...registry import Registry

MATCHERS = Registry("matcher")  # the built-in matchers register themselves when dissim.eval.matchers imports them


def create_matcher(name: str, **params):
    """A matcher by registered name; ``params`` it does not take are refused with their names."""
    cls = MATCHERS.get(name)
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise UserError(f"matcher {name!r} takes no {sorted(unknown)}")
    return cls(**params)
