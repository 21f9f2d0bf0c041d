"""z-score normalisation, the sum rule, and the SVM member's per-class scores."""

import numpy as np
import pytest

from dissim.ensemble import SVMScorer, ZScore, accuracy, sum_rule


def test_zscore_plus_sum_rule_equals_a_hand_computation():
    train_a = np.array([[1.0, 3.0], [5.0, 7.0]])      # mean 4, std sqrt(5)
    train_b = np.array([[10.0, 10.0], [10.0, 30.0]])  # mean 15, std sqrt(75)
    test_a = np.array([[4.0, 6.0], [2.0, 0.0]])
    test_b = np.array([[15.0, 5.0], [40.0, 15.0]])
    fused = sum_rule([test_a, test_b], [train_a, train_b])
    by_hand = np.array([
        [(4 - 4) / 5 ** 0.5 + (15 - 15) / 75 ** 0.5, (6 - 4) / 5 ** 0.5 + (5 - 15) / 75 ** 0.5],
        [(2 - 4) / 5 ** 0.5 + (40 - 15) / 75 ** 0.5, (0 - 4) / 5 ** 0.5 + (15 - 15) / 75 ** 0.5],
    ])
    assert np.allclose(fused, by_hand)
    assert accuracy(fused, np.array([0, 0])) == 100.0  # row 0: 0 > -0.26; row 1: 1.99 > -1.79


def test_zscore_of_training_scores_has_mean_0_std_1_and_keeps_decisions():
    rng = np.random.default_rng(0)
    train = rng.normal(3, 2, size=(50, 4))
    z = ZScore().fit(train)
    assert z.transform(train).mean() == pytest.approx(0, abs=1e-12)
    assert z.transform(train).std() == pytest.approx(1)
    test = rng.normal(size=(9, 4))
    assert np.array_equal(np.argmax(z.transform(test), 1), np.argmax(test, 1))


def test_svm_scores_have_one_column_per_class_and_argmax_predicts():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.3, size=(20, 3)) for c in range(3)])
    y = np.repeat([0, 1, 2], 20)
    svm = SVMScorer().fit(x, y)
    scores = svm.decision_function(x)
    assert scores.shape == (60, 3)
    assert accuracy(scores, y) == 100.0
    binary = SVMScorer().fit(x[:40], y[:40]).decision_function(x[:40])
    assert binary.shape == (40, 2) and np.allclose(binary[:, 0], -binary[:, 1])
    assert accuracy(binary, y[:40]) == 100.0
