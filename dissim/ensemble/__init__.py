"""Members, SVM scoring, score normalisation, sum-rule fusion and the cached runner."""

from .fusion import ZScore, accuracy, sum_rule
from .svm import SVMScorer

__all__ = ["SVMScorer", "ZScore", "accuracy", "sum_rule"]
