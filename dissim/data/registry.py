"""Data sets by name (``@register_dataset``), on the shared registry: ``list_datasets``, ``load_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from ..registry import Registry

# A loader takes (data_root or None, seed) and returns a data-set record (ImageSet or SpectraSet).
Loader = Callable[[Path | None, int], object]


def _import_builtins() -> None:
    from . import (
        builtin,  # noqa: F401  (registers the packaged image sets)
        mat,  # noqa: F401  (the MATLAB toolbox's DATA .mat files)
        spectra,  # noqa: F401  (rruff-ir, coffee)
    )


DATASETS = Registry("data set", populate=_import_builtins)


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


def load_dataset(name: str, root: str | Path | None = None, seed: int = 0):
    """Load data set ``name``; ``root`` is the user's data path where the set needs one. The record the
    loader returns is checked (a loader given as ``pkg.module:function`` is the user's code)."""
    from .dataset import ImageSet, check_image_set
    from .spectra import SpectraSet, check_spectra_set

    display = canonical_name(name)
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise UserError(f"--data-root {root} does not exist: give the path of the {display} data")
    loader = DATASETS.get(display)
    where = f"data set {display!r}" + (f" (loader {display})" if ":" in display else "")
    try:
        data = loader(root, seed)
    except UserError:
        raise
    except Exception as exc:
        if ":" not in display:
            raise  # dissim's own loaders: a bug to report, not the user's to fix
        raise UserError(f"{where} failed: {type(exc).__name__}: {exc}; a loader is called as loader(data_root, "
                        "seed)") from None
    if isinstance(data, ImageSet):
        check_image_set(data, where)
    elif isinstance(data, SpectraSet):
        check_spectra_set(data, where)
    else:
        raise UserError(f"{where} returned {type(data).__name__}, not a dissim.data.ImageSet or SpectraSet")
    return data
