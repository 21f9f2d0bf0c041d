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


# -- learned fusion (greedy forward selection on out-of-fold scores of the training fold) ----------
def _by_hand_forward_selection(inner, labels, steps, min_gain):
    """The same rule written out plainly: z-score, start from every member once, then add the member
    that maximises (accuracy, mean margin of the average), ties to the first, while that raises the
    accuracy by more than ``min_gain``."""
    z = [(s - s.mean()) / s.std() for s in inner]

    def value(counts):
        mean = sum(c * m for c, m in zip(counts, z)) / sum(counts)
        correct = [int(np.argmax(row) == y) for row, y in zip(mean, labels)]
        margins = [row[y] - max(v for c, v in enumerate(row) if c != y) for row, y in zip(mean, labels)]
        return sum(correct) / len(labels), sum(margins) / len(labels)

    counts = [1] * len(z)
    for _ in range(steps):
        best = None
        for i in range(len(z)):
            trial = [c + (j == i) for j, c in enumerate(counts)]
            if best is None or value(trial) > best[0]:
                best = (value(trial), trial)
        if best[0][0] <= value(counts)[0] + min_gain:
            break
        counts = best[1]
    return np.array(counts) / sum(counts)


def test_forward_selection_weights_equal_a_hand_computation():
    from dissim.eval.fusion import forward_selection

    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    rng = np.random.default_rng(3)
    truth = np.eye(3)[labels]
    good = truth * 1.5 + rng.normal(0, 0.7, (10, 3))  # a good member, a noisy one, a poor one
    noisy = truth * 0.8 + rng.normal(0, 1.0, (10, 3))
    poor = rng.normal(0, 1.0, (10, 3))
    inner = [good, noisy, poor]
    weights = forward_selection(inner, labels, max_steps=6)
    assert weights == pytest.approx(_by_hand_forward_selection(inner, labels, 6, 0.005))
    # a gain of one item in ten (0.1) is not enough where more than 0.1 is asked: the sum rule stays
    assert forward_selection(inner, labels, min_gain=0.1) == pytest.approx(_by_hand_forward_selection(inner, labels, 20, 0.1))
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] > weights[2]  # the good member outweighs the poor one
    sum_rule_accuracy = np.mean(np.argmax(sum((s - s.mean()) / s.std() for s in inner), 1) == labels)
    learned = sum(w * (s - s.mean()) / s.std() for w, s in zip(weights, inner))
    assert np.mean(np.argmax(learned, 1) == labels) > sum_rule_accuracy  # it only adds what raises accuracy


def test_forward_selection_keeps_the_sum_rule_when_the_inner_scores_cannot_tell_members_apart():
    from dissim.eval.fusion import forward_selection

    labels = np.array([0, 1, 0, 1, 0, 1])
    rng = np.random.default_rng(0)
    perfect = [np.eye(2)[labels] * s + rng.normal(0, 0.1, (6, 2)) for s in (1.0, 3.0, 5.0)]
    assert forward_selection(perfect, labels).tolist() == pytest.approx([1 / 3] * 3)


def test_learned_fusion_reads_no_test_scores_and_applies_inner_statistics():
    """The weights come from the inner (out-of-fold) scores only: changing every test score leaves them
    as they are; the fused test scores are the weighted z-scored test scores, z-scored by the inner ones."""
    from dissim.protocols.ensemble.members import Member
    from dissim.protocols.ensemble.recipe import Method
    from dissim.protocols.ensemble.report import MemberFold, learned_fusion

    rng = np.random.default_rng(0)
    cross = Method("Cross", "bce", "adam")
    members = [Member("sn1", cross, "fully", k) for k in (1, 2, 3)]
    train_labels, test_labels = rng.integers(0, 3, 30), rng.integers(0, 3, 12)
    inner = [np.eye(3)[train_labels] * s + rng.normal(0, 1, (30, 3)) for s in (2.0, 0.1, 1.0)]

    def scores(test_scale):
        return {m.name: {1: MemberFold(rng.normal(size=(30, 3)), rng.normal(size=(12, 3)) * test_scale,
                                       test_labels, inner[i], train_labels)} for i, m in enumerate(members)}

    first, second = scores(1.0), scores(50.0)
    weights, fused, labels = learned_fusion(members, first, 1)
    assert np.array_equal(weights, learned_fusion(members, second, 1)[0])
    by_hand = sum(w * (first[m.name][1].test - inner[i].mean()) / inner[i].std()
                  for i, (m, w) in enumerate(zip(members, weights)))
    assert np.allclose(fused, by_hand)
    assert np.array_equal(labels, test_labels)
