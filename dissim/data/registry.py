"""Data sets by name (``@register_dataset``), on the shared registry: ``list_datasets``, ``canonical_name``
(:func:`dissim.data.load.load_dataset` loads one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..registry import Registry

# A loader takes (data_root or None, seed) and returns a data-set record (ImageSet or SpectraSet).
Loader = Callable[[Path | None, int], object]


DATASETS = Registry("data set")  # the built-in sets register themselves when dissim.data imports them


def register_dataset(name: str, summary: str = ""):
    """Decorator registering a data-set loader ``loader(root, seed)`` under ``name`` (any case finds it)."""

    def decorate(loader: Loader) -> Loader:
        DATASETS.register(name, loader, summary=summary)
        return loader

    return decorate


def list_datasets() -> list[tuple[str, str]]:
    """(name, one-line summary) of every registered data set."""
    return DATASETS.summaries()


def canonical_name(name: str) -> str:
    """The registered spelling of ``name``; a UserError lists the known sets."""
    if ":" not in str(name) and str(name).lower() not in {n.lower() for n in DATASETS.names()}:
        known = ", ".join(n for n, _ in list_datasets())
        raise UserError(f"unknown data set {name!r} (--dataset): known data sets are {known}, "
                        "or a loader given as pkg.module:function")
    return DATASETS.canonical(name)
