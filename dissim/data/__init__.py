"""Data sets: registry, loaders, splits (folds and class partitions), cached preprocessing, and the
checks that bring user arrays to a network's input."""

from .dataset import ImageSet
from .preprocess import preprocess, square_pad
from .registry import (
           DATASETS,
           canonical_name,
           list_datasets,
           load_dataset,
           register_dataset,
)
from .spectra import SpectraSet

__all__ = ["DATASETS", "ImageSet", "SpectraSet", "canonical_name", "list_datasets", "load_dataset", "preprocess",
           "register_dataset", "square_pad"]
