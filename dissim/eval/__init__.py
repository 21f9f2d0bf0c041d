"""Scoring and comparison: metrics, z-scores and the sum rule (``SumRuleEnsemble``), matchers of
queries against references, and the report structures every protocol fills."""

from .cnn import FineTunedCNN
from .fusion import SumRuleEnsemble, ZScore, class_scores, sum_rule
from .matchers import (
           MATCHERS,
           CNNClassifierMatcher,
           CNNFeaturesMatcher,
           EmbeddingLMNNMatcher,
           LMNNMatcher,
           NearestCosine,
           NearestL2,
           SiameseMatcher,
           SumRuleMatcher,
           create_matcher,
)
from .metrics import (
           accuracy,
           accuracy_and_macro_f1,
           best_f1_threshold,
           mean_std,
           pair_accuracy_jaccard,
)
from .openset import OpenSetCNN, OpenSetSiamese
from .verifier import PairVerifier

__all__ = ["CNNClassifierMatcher", "CNNFeaturesMatcher", "EmbeddingLMNNMatcher", "FineTunedCNN", "LMNNMatcher", "MATCHERS",
           "NearestCosine", "NearestL2", "OpenSetCNN", "OpenSetSiamese", "PairVerifier", "SiameseMatcher", "SumRuleEnsemble",
           "SumRuleMatcher", "ZScore", "accuracy", "accuracy_and_macro_f1", "best_f1_threshold", "class_scores",
           "create_matcher", "mean_std", "pair_accuracy_jaccard", "sum_rule"]
