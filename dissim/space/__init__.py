"""Prototype selection and the FULLY / DEEPER dissimilarity spaces."""

from .dct import dct_reduce
from .dissimilarity import DeeperDissimilarity, FullyDissimilarity
from .embed import Embeddings, embed
from .prototypes import ClassWiseKMeans

__all__ = ["ClassWiseKMeans", "DeeperDissimilarity", "Embeddings", "FullyDissimilarity", "dct_reduce", "embed"]
