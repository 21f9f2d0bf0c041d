"""z-score normalisation, the sum rule (function and SumRuleEnsemble), and per-class SVM scores."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from dissim import SumRuleEnsemble
from dissim.eval import ZScore, accuracy, class_scores, sum_rule


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
    scores = class_scores(SVC(C=1000, gamma=0.1).fit(x, y).decision_function(x))
    assert scores.shape == (60, 3)
    assert accuracy(scores, y) == 100.0
    binary = class_scores(SVC(C=1000, gamma=0.1).fit(x[:40], y[:40]).decision_function(x[:40]))
    assert binary.shape == (40, 2) and np.allclose(binary[:, 0], -binary[:, 1])
    assert accuracy(binary, y[:40]) == 100.0


def test_sum_rule_ensemble_fuses_members_as_the_sum_rule_of_their_training_normalised_scores():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 1.0, size=(30, 4)) for c in range(3)])
    y = np.repeat(["a", "b", "c"], 30)
    test = rng.normal(1, 1.5, size=(12, 4))
    ensemble = SumRuleEnsemble([("svm", SVC(gamma=0.5)), ("logreg", LogisticRegression())]).fit(x, y)
    svm, logreg = SVC(gamma=0.5).fit(x, y), LogisticRegression().fit(x, y)
    by_hand = sum_rule([svm.decision_function(test), logreg.decision_function(test)],
                       [svm.decision_function(x), logreg.decision_function(x)])
    assert np.allclose(ensemble.decision_function(test), by_hand)
    assert list(ensemble.predict(test)) == list(np.array(["a", "b", "c"])[by_hand.argmax(1)])
    assert np.allclose(ensemble.predict_proba(test).sum(1), 1)
    assert set(ensemble.named_members_) == {"svm", "logreg"}
    # two classes: the decision is the difference of the two fused columns, positive for the second class
    binary = SumRuleEnsemble([("svm", SVC()), ("logreg", LogisticRegression())]).fit(x[:60], y[:60])
    assert binary.decision_function(test).shape == (12,)
    assert np.array_equal(binary.predict(test) == "b", binary.decision_function(test) > 0)


def test_sum_rule_ensemble_refuses_members_without_scores():
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError, match="neither decision_function nor predict_proba"):
        SumRuleEnsemble([("regression", LinearRegression())]).fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="empty"):
        SumRuleEnsemble([]).fit(np.zeros((4, 2)), [0, 1, 0, 1])
