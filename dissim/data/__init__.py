"""Data sets: registry, loaders, splits (folds and class partitions), cached preprocessing, and the
checks that bring user arrays to a network's input."""

from . import (
    builtin,  # noqa: F401  (registers the packaged image sets)
    mat,  # noqa: F401  (the MATLAB toolbox's DATA .mat files)
    spectra,  # noqa: F401  (rruff-ir, coffee)
)
from .dataset import ImageSet
from .load import load_dataset
from .preprocess import preprocess, square_pad
from .registry import DATASETS, canonical_name, list_datasets, register_dataset
from .spectra import SpectraSet

__all__ = ["DATASETS", "ImageSet", "SpectraSet", "canonical_name", "list_datasets", "load_dataset", "preprocess",
           "register_dataset", "square_pad"]
