"""Protocols: each says how to split the data, what to train, how to score and which rows to
report, as one small module on the shared core. :mod:`dissim.experiment` runs them."""

from . import ensemble, oneshot, openset, verify  # noqa: F401  (the built-in protocols register themselves)
from .base import PROTOCOLS, RunOptions, get_protocol, list_protocols

__all__ = ["PROTOCOLS", "RunOptions", "get_protocol", "list_protocols"]
