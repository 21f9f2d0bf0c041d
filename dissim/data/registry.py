"""Registry of data sets: ``@register_dataset`` loaders, ``list_datasets``, ``load_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import UserError

# A loader takes (data_root or None, seed) and returns a data-set record.
Loader = Callable[[Path | None, int], object]
# lower-case name -> (name as displayed, loader, one-line summary); lookup ignores case so that
# the paper's spellings (InfLar, BIRDz) and lower case both work.
_LOADERS: dict[str, tuple[str, Loader, str]] = {}


def register_dataset(name: str, summary: str = ""):
    """Decorator registering a data-set loader ``loader(root, seed)`` under ``name``."""

    def decorate(loader: Loader) -> Loader:
        key = name.lower()
        if key in _LOADERS and _LOADERS[key][1] is not loader:
            raise ValueError(f"data set {name!r} is already registered")
        _LOADERS[key] = (name, loader, summary or (loader.__doc__ or "").strip().splitlines()[0])
        return loader

    return decorate


def list_datasets() -> list[tuple[str, str]]:
    """(name, one-line summary) of every registered data set."""
    _import_builtins()
    return [(display, summary) for display, _, summary in sorted(_LOADERS.values(), key=lambda v: v[0].lower())]


def canonical_name(name: str) -> str:
    """The registered spelling of ``name``; raises a UserError listing the known sets."""
    _import_builtins()
    entry = _LOADERS.get(name.lower())
    if entry is None:
        known = ", ".join(n for n, _ in list_datasets())
        raise UserError(f"unknown data set {name!r} (--dataset): known data sets are {known}")
    return entry[0]


def load_dataset(name: str, root: str | Path | None = None, seed: int = 0):
    """Load data set ``name``; ``root`` is the user's data path where the set needs one."""
    display = canonical_name(name)
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise UserError(f"--data-root {root} does not exist: give the path of the {display} data")
    return _LOADERS[display.lower()][1](root, seed)


def _import_builtins() -> None:
    from . import (
        builtin,  # noqa: F401  (registers the packaged loaders)
        spectra,  # noqa: F401  (rruff-ir, coffee)
    )
