"""Siamese training objectives, one per module, on one registry.

A loss is a small ``nn.Module`` (it may own learnable parameters, like the BCE head) that declares
what generic code needs, so that nothing outside it tests a loss's name:

- ``arity``: 2 (pairs) or 3 (triplets), the groups of features ``forward`` takes;
- ``default_sampler``: the sampler it trains on unless told otherwise (:mod:`dissim.train.samplers`);
- ``profile_options``: constructor argument -> recipe profile setting (e.g. the triplet margin); these
  settings become part of a trained member's cache key;
- ``forward(*features, target=None)``: the batch loss;
- ``fully(fx, fp)``: the FULLY dissimilarity feature between every image and prototype embedding;
- ``similarity(fx, fr)``: how alike queries and references are (higher = more alike), for matching;
- ``pair_logits(f1, f2)`` (optional): logits of "same class" for pairs, for validation pair losses;
- ``prepare_epoch(net, data, labels)`` (optional): called before every epoch (e.g. to recompute a
  margin from the current features).

Register new ones with ``@register_loss("name")``.
"""

from __future__ import annotations

import math
import numbers

from torch import nn

from ...errors import UserError
from ...registry import Registry


def _register_builtins() -> None:
    from . import bce, contrastive, triplet  # noqa: F401  (their decorators register them)


LOSSES = Registry("loss", populate=_register_builtins, plural="losses")


def register_loss(name: str):
    """Class decorator registering a Siamese loss under ``name``."""

    def decorate(cls):
        LOSSES.register(name, cls)
        cls.name = name
        return cls

    return decorate


def list_losses() -> list[str]:
    """Names of the registered Siamese losses."""
    return LOSSES.names()


def get_loss(name: str) -> type[nn.Module]:
    """The loss class registered as ``name`` (or at ``pkg.module:Name``)."""
    return LOSSES.get(name)


def check_loss(name: str) -> str:
    get_loss(name)
    return name


def check_non_negative(loss: str, **values) -> None:
    """A loss's margins and weights are finite numbers >= 0 (None where the loss computes its own);
    a UserError naming the first that is not."""
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise UserError(f"loss {loss!r}: {key} must be a finite number >= 0, got {value!r}")


def create_loss(name: str, embedding_dim: int, **options) -> nn.Module:
    """An instance of loss ``name`` for embeddings of ``embedding_dim``."""
    cls = get_loss(name)
    try:
        return cls(embedding_dim, **options)
    except TypeError as exc:
        raise UserError(f"loss {name!r} does not take the options {sorted(options)}: {exc}") from None


__all__ = ["LOSSES", "check_loss", "check_non_negative", "create_loss", "get_loss", "list_losses", "register_loss"]
