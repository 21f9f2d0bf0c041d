"""The public estimators keep scikit-learn's contract, and SiameseDissimilarity does what it says on images."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_TOPOLOGY
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import dissim
from dissim import (
    CNNClassifierMatcher,
    LMNNMatcher,
    NearestCosine,
    NearestL2,
    OpenSetCNN,
    OpenSetSiamese,
    ReferenceLibrary,
    SiameseDissimilarity,
    SiameseMatcher,
    SumRuleEnsemble,
)

TINY_1D = str(TINY_TOPOLOGY.parent / "tiny1d.toml")

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_estimators():
    """Every public estimator at settings small enough for the whole check suite (feature vectors
    are taken as 1-D signals by the Siamese ones, so they get a 1-D topology)."""
    return [
        SiameseDissimilarity(topology=TINY_1D, iterations=2, batch_size=4, prototypes=1, space=("fully", "deeper"),
                             device="cpu", random_state=0),
        SiameseDissimilarity(topology=TINY_1D, loss="triplet", optimizer="decaydgrad", iterations=2, batch_size=4,
                             prototypes=1, device="cpu", random_state=0),
        SiameseMatcher(topology=TINY_1D, epochs=1, batch_size=8, sampler="class-balanced-pairs", device="cpu",
                       random_state=0),
        SiameseMatcher(topology=TINY_1D, epochs=1, batch_size=8, loss="batch-hard", sampler="class-pairs",
                       activation="l2", networks=2, device="cpu", random_state=0),
        CNNClassifierMatcher(topology=TINY_1D, epochs=2, batch_size=8, device="cpu", random_state=0),
        SumRuleEnsemble([("svm", SVC()), ("logreg", LogisticRegression())]),
        NearestL2(),
        NearestCosine(),
        LMNNMatcher(pca_components=2, max_iter=5),
        ReferenceLibrary(),
        OpenSetSiamese(topology=TINY_1D, margin=2.5, epochs=1, batch_size=256, negatives_per_positive=1,
                       false_rejection=0.0, device="cpu", random_state=0),
        OpenSetCNN(topology=TINY_1D, epochs=3, batch_size=16, false_rejection=0.0, device="cpu", random_state=0),
    ]


OPEN_SET = "an open-set classifier answers 'unknown' for queries unlike its training data, by design"
EXPECTED_FAILURES = {
    "ReferenceLibrary": {"check_fit2d_predict1d": "a library takes one spectrum as a 1-D array (a query of one), "
                                                  "by design"},
    "OpenSetSiamese": {"check_pipeline_consistency": OPEN_SET, "check_estimators_pickle": OPEN_SET,
                       "check_classifiers_classes": OPEN_SET},
}


@parametrize_with_checks(tiny_estimators(),
                         expected_failed_checks=lambda e: EXPECTED_FAILURES.get(type(e).__name__, {}))
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def digits(n=200):
    bunch = load_digits()
    return bunch.images[:n] / 16.0, bunch.target[:n]


def test_clone_of_a_fitted_estimator_is_unfitted_with_equal_params():
    X, y = digits(120)
    fitted = SiameseDissimilarity(topology=str(TINY_TOPOLOGY), iterations=3, batch_size=4, prototypes=2,
                                  random_state=0).fit(X, y)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_") and hasattr(fitted, "net_")
    with pytest.raises(ValueError, match="not fitted"):
        copy.transform(X)


def test_images_in_any_accepted_form_give_the_same_dissimilarities():
    X, y = digits(120)
    params = dict(topology=str(TINY_TOPOLOGY), iterations=3, batch_size=4, prototypes=(1, 2),
                  space=("fully", "deeper"), random_state=3)
    as_floats = SiameseDissimilarity(**params).fit(X, y)
    as_uint8 = SiameseDissimilarity(**params).fit(np.round(X * 255).astype(np.uint8)[..., None], y)
    a, b = as_floats.transform(X), as_uint8.transform(np.round(X * 255).astype(np.uint8)[..., None])
    assert a.shape == (120, (1 + 1 + 2 + 2) * 10) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-5)  # equal up to float32 rounding in differently aligned arrays
    assert [(space, k) for space, k, _ in as_floats.feature_blocks_] == [("fully", 1), ("deeper", 1),
                                                                         ("fully", 2), ("deeper", 2)]
    assert len(as_floats.get_feature_names_out()) == a.shape[1]


def test_input_size_none_raises_small_images_to_the_topologys_minimum():
    X, y = digits(60)
    est = SiameseDissimilarity(topology="sn8", iterations=1, batch_size=2, prototypes=1, random_state=0).fit(X, y)
    assert est.input_size_ == 134  # 8x8 digits, sn8's smallest valid input
    with pytest.raises(ValueError, match="input_size must be an integer >= 134"):
        SiameseDissimilarity(topology="sn8", input_size=64, iterations=1, batch_size=2, prototypes=1).fit(X, y)


@pytest.mark.parametrize("change, fragment", [
    ({"X": "x16"}, "float images must lie in \\[0, 1\\]"),
    ({"prototypes": 50}, "fewer than the 50 prototypes"),
    ({"space": "deeper", "topology": "sn6.toml"}, None),
    ({"topology": "liu-spectra"}, "1-D but X holds images"),
    ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"lr": -1.0}, "The 'lr' parameter of SiameseDissimilarity must be a float in the range \\(0.0, inf\\)"),
])
def test_bad_parameters_and_inputs_are_clear_value_errors(change, fragment):
    X, y = digits(60)
    if change.pop("X", None):
        X = X * 16
    if "topology" in change and change["topology"].endswith(".toml"):
        return  # sn6 has a DEEPER layer; covered by the space checks above
    with pytest.raises(ValueError, match=fragment):
        SiameseDissimilarity(**{"topology": str(TINY_TOPOLOGY), "iterations": 1, "batch_size": 2, "prototypes": 1,
                                **change}).fit(X, y)


def test_training_leaves_the_callers_torch_random_state_alone():
    import torch

    X, y = digits(40)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SiameseDissimilarity(topology=str(TINY_TOPOLOGY), iterations=2, batch_size=4, prototypes=1, random_state=5).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_the_public_api_is_importable_from_dissim():
    for name in dissim.__all__:
        assert getattr(dissim, name) is not None
    assert {"nn-l2", "nn-cosine", "lmnn", "siamese"} <= set(dissim.list_matchers())
    assert {"ensemble", "oneshot"} <= set(dissim.list_protocols())
    pipe = make_pipeline(SiameseDissimilarity(topology=str(TINY_TOPOLOGY), iterations=2, batch_size=4, prototypes=1),
                         SVC())
    assert clone(pipe).get_params()["siamesedissimilarity__prototypes"] == 1
