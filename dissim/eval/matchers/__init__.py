"""Matchers: how alike a query is to each reference, learned (or not) on training classes.

Every matcher is a scikit-learn transformer: ``fit(X, y)`` learns on the training classes,
``transform(X)`` maps items into the space where they are compared, and
``similarity(queries, references)`` gives the (Q, R) matrix (higher = more alike); a query takes
the class of its most similar reference (:class:`dissim.library.ReferenceLibrary`).

- ``nn-l2``: nearest neighbour with the Euclidean distance (similarity = −distance);
- ``nn-cosine``: nearest neighbour with the cosine similarity;
- ``lmnn``: Large Margin Nearest Neighbour (Weinberger & Saul 2009, ``metric-learn``) learned on the
  training classes after a PCA (LMNN's cost grows with the square of the dimension), then the
  Euclidean distance in its space;
- ``siamese``: a Siamese network (Liu et al.: a 1-D CNN twin, weighted-L1 + sigmoid head, BCE,
  balanced bootstrap pairs), trained by the shared core (:func:`dissim.train.train_twin`);
- ``cnn``: a 1-D CNN classifier of the training classes (seen classes only).

and matchers built from these: ``sum-rule`` (:mod:`.sum_rule`), ``siamese-lmnn``
(:mod:`.siamese_lmnn`) and ``cnn-features`` (:mod:`.cnn_features`).

One module per matcher, each registering itself on :data:`MATCHERS` (:mod:`.registry`); to add one,
copy the closest module, register it under a new name and import it here.
"""

from . import (  # noqa: F401  (the built-in matchers register themselves)
    cnn_classifier,
    cnn_features,
    lmnn,
    nearest_cosine,
    nearest_l2,
    siamese,
    siamese_lmnn,
    sum_rule,
)
from .base import Matcher
from .cnn_classifier import CNNClassifierMatcher
from .cnn_features import CNNFeaturesMatcher
from .lmnn import LMNNMatcher
from .nearest_cosine import NearestCosine
from .nearest_l2 import NearestL2
from .registry import MATCHERS, create_matcher
from .siamese import SiameseMatcher
from .siamese_lmnn import EmbeddingLMNNMatcher
from .sum_rule import SumRuleMatcher, fuse_similarities

__all__ = ["CNNClassifierMatcher", "CNNFeaturesMatcher", "EmbeddingLMNNMatcher", "LMNNMatcher", "MATCHERS", "Matcher",
           "NearestCosine", "NearestL2", "SiameseMatcher", "SumRuleMatcher", "create_matcher", "fuse_similarities"]
