"""Loading a registered data set by name, with the record it returns checked."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .dataset import ImageSet, check_image_set
from .registry import DATASETS, canonical_name
from .spectra import SpectraSet, check_spectra_set


def load_dataset(name: str, root: str | Path | None = None, seed: int = 0):
    """Load data set ``name``; ``root`` is the user's data path where the set needs one. The record the
    loader returns is checked (a loader given as ``pkg.module:function`` is the user's code)."""
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
