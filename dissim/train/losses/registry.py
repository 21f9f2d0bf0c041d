"""The loss registry (``@register_loss``), and the checks and constructor every loss shares."""


from __future__ import annotations

import math
import numbers

from torch import nn

from ...errors import UserError
from ...registry import Registry


LOSSES = Registry("loss", plural="losses")  # the built-in losses register themselves when dissim.train.losses imports them


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

