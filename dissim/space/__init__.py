"""Dissimilarity spaces: class-wise prototypes, the FULLY / DEEPER transformers, and the
``SiameseDissimilarity`` estimator that trains a twin and turns items into dissimilarity vectors."""

from .dct import DCT_KEEP, dct_reduce
from .dissimilarity import SPACES, DeeperDissimilarity, FullyDissimilarity
from .estimator import SiameseDissimilarity, resolve_seed
from .prototypes import ClassWiseKMeans

__all__ = ["ClassWiseKMeans", "DCT_KEEP", "DeeperDissimilarity", "FullyDissimilarity", "SPACES",
           "SiameseDissimilarity", "dct_reduce", "resolve_seed"]
