"""Data sets: registry, loaders, fold protocols and cached preprocessing."""

from .dataset import ImageSet
from .preprocess import preprocess, square_pad
from .registry import canonical_name, list_datasets, load_dataset, register_dataset

__all__ = ["ImageSet", "canonical_name", "list_datasets", "load_dataset", "preprocess", "register_dataset",
           "square_pad"]
