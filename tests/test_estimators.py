"""The public estimators keep scikit-learn's contract, and SiameseDissimilarity does what it says on images."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_1D, TINY_TOPOLOGY
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import dissim
from dissim import (
    CNNClassifierMatcher,
    FineTunedCNN,
    LMNNMatcher,
    NearestCosine,
    NearestL2,
    OpenSetCNN,
    OpenSetSiamese,
    PairVerifier,
    ReferenceLibrary,
    SiameseDissimilarity,
    SiameseMatcher,
    SumRuleEnsemble,
)
from dissim.eval import CNNFeaturesMatcher, EmbeddingLMNNMatcher, SumRuleMatcher, ZScore
from dissim.space import ClassWiseKMeans, DeeperDissimilarity, FullyDissimilarity


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
        EmbeddingLMNNMatcher(embedding=SiameseMatcher(topology=TINY_1D, epochs=1, batch_size=8,
                                                      sampler="class-balanced-pairs", device="cpu", random_state=0),
                             pca_components=2, max_iter=5),
        CNNFeaturesMatcher(topology=TINY_1D, epochs=1, batch_size=8, device="cpu", random_state=0),
        SumRuleMatcher([("l2", NearestL2()), ("lmnn", LMNNMatcher(pca_components=2, max_iter=5))]),
        ClassWiseKMeans(k=1, random_state=0),
        FullyDissimilarity(),
        DeeperDissimilarity(),
        ZScore(),
        PairVerifier(topology=TINY_1D, epochs=1, batch_size=8, device="cpu", random_state=0),
        FineTunedCNN(network="mobilenet_v3_small", init="random", input_size=32, epochs=1, batch_size=8,
                     augmentation=None, device="cpu", random_state=0),
    ]


OPEN_SET = "an open-set classifier answers 'unknown' for queries unlike its training data, by design"
ONE_MAP = ("one affine map for a whole score matrix, by design: a member's training-score statistics z-score its "
           "scores of any shape (a fusion z-scores (Q, R) similarities by those among R references, given 1-D)")
IMAGES_ONLY = ("fits an ImageNet (2-D) network on images (n, H, W[, C]); the check's feature vectors (n, d) are "
               "refused with a ValueError, by design (checked on images in test_image_estimators_keep_the_contract)")
PAIRS = ("predicts on pairs (n, 2, ...) of the items it fits on, by design; the check predicts on the items "
         "themselves (checked on images in test_image_estimators_keep_the_contract)")
DATA_CHECKS = ("check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
               "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
               "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
               "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
               "check_estimators_pickle(readonly_memmap=True)", "check_f_contiguous_array_estimator",
               "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
               "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
               "check_fit2d_predict1d")
CLASSIFIER_CHECKS = ("check_classifier_data_not_an_array", "check_classifiers_classes", "check_classifiers_train",
                     "check_classifiers_train(readonly_memmap=True)",
                     "check_classifiers_train(readonly_memmap=True,X_dtype=float32)", "check_supervised_y_2d",
                     "check_decision_proba_consistency")
EXPECTED_FAILURES = {
    "ReferenceLibrary": {"check_fit2d_predict1d": "a library takes one spectrum as a 1-D array (a query of one), "
                                                  "by design"},
    "OpenSetSiamese": {"check_pipeline_consistency": OPEN_SET, "check_estimators_pickle": OPEN_SET,
                       "check_classifiers_classes": OPEN_SET},
    "ZScore": {check: ONE_MAP for check in ("check_n_features_in_after_fitting", "check_n_features_in", "check_fit1d",
                                            "check_fit2d_predict1d", "check_transformer_general",
                                            "check_transformer_general(readonly_memmap=True)")},
    "EmbeddingLMNNMatcher": {"check_methods_subset_invariance": "float32 network features differ in their last bits "
                             "with the batch they come in (oneDNN picks kernels by batch size); LMNN's linear map "
                             "scales that beyond the check's 1e-7"},
    "PairVerifier": dict.fromkeys(DATA_CHECKS, PAIRS),
    "FineTunedCNN": dict.fromkeys(DATA_CHECKS + CLASSIFIER_CHECKS, IMAGES_ONLY),
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


@pytest.mark.parametrize("make", [
    lambda: PairVerifier(topology=str(TINY_TOPOLOGY), epochs=1, batch_size=8, device="cpu", random_state=0),
    lambda: FineTunedCNN(network="mobilenet_v3_small", init="random", input_size=32, epochs=1, batch_size=8,
                         augmentation=None, device="cpu", random_state=0),
], ids=["PairVerifier", "FineTunedCNN"])
def test_image_estimators_keep_the_contract(make):
    """What scikit-learn's checks ask, on the images (and pairs) these estimators take."""
    import pickle

    from sklearn.exceptions import NotFittedError

    X, y = digits(90)
    X, y = X[y < 3], y[y < 3]  # 30 images of three classes
    queries = np.stack([X[:6], X[6:12]], axis=1) if isinstance(make(), PairVerifier) else X[:12]
    estimator = make()
    params = estimator.get_params()
    with pytest.raises(NotFittedError):
        estimator.predict(queries)
    assert estimator.fit(X, y) is estimator
    assert estimator.get_params() == params  # fit leaves the parameters as given
    predicted = estimator.predict(queries)
    copy = clone(estimator)
    assert copy.get_params() == params and not hasattr(copy, "net_")
    assert np.array_equal(pickle.loads(pickle.dumps(estimator)).predict(queries), predicted)
    assert np.array_equal(make().fit(X, y).predict(queries), predicted)  # random_state fixes the fit


def test_every_public_estimator_is_under_the_check_suite():
    import dissim.eval
    import dissim.library
    import dissim.space
    from sklearn.base import BaseEstimator

    public = {getattr(module, name) for module in (dissim, dissim.eval, dissim.space, dissim.library)
              for name in module.__all__}
    estimators = {obj for obj in public if isinstance(obj, type) and issubclass(obj, BaseEstimator)}
    assert estimators == {type(e) for e in tiny_estimators()}


def _spectra(n_per_class=6, length=24):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    return rng.normal(size=(len(y), length)).astype(np.float32) + y[:, None], y


def _images(n_per_class=6, side=32):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    return rng.integers(0, 255, (len(y), side, side), dtype=np.uint8), y


@pytest.mark.parametrize("estimator, data", [
    (SiameseDissimilarity(topology=TINY_1D, iterations=4, batch_size=4, prototypes=1), _spectra),
    (SiameseMatcher(topology=TINY_1D, epochs=2, batch_size=8, sampler="class-balanced-pairs",
                    validation_fraction=0.0), _spectra),
    (CNNClassifierMatcher(topology=TINY_1D, epochs=2, batch_size=8), _spectra),
    (OpenSetSiamese(topology=TINY_1D, epochs=2, batch_size=16, negatives_per_positive=1), _spectra),
    (OpenSetCNN(topology=TINY_1D, epochs=2, batch_size=8), _spectra),
    (PairVerifier(topology=str(TINY_TOPOLOGY), epochs=2, batch_size=8, validation_fraction=0.0), _images),
    (FineTunedCNN(network="mobilenet_v3_small", init="random", input_size=32, epochs=2, batch_size=8,
                  augmentation=None), _images),
], ids=lambda e: type(e).__name__ if not callable(e) or hasattr(e, "fit") else "")
def test_every_twin_training_estimator_reruns_a_training_that_does_not_converge(estimator, data):
    X, y = data()
    # a loss cannot fall below 1e-9 of its start in two epochs: every attempt counts as not converged
    fitted = clone(estimator).set_params(max_reruns=1, converge_ratio=1e-9, device="cpu", random_state=0).fit(X, y)
    for attempts in np.atleast_1d(fitted.attempts_):
        assert attempts.reruns == 1 and not attempts.converged
    assert fitted.compute_.device == "cpu" and fitted.precision_ == fitted.compute_.precision


def test_an_image_augmentation_on_spectra_is_refused_before_training_not_deep_in_torch():
    from dissim.errors import UserError

    X, y = _spectra()
    with pytest.raises(UserError, match="augmentation 'flips-greyscale' transforms images; topology .* takes spectra"):
        PairVerifier(topology=TINY_1D, epochs=1, batch_size=8, device="cpu", validation_fraction=0.0).fit(X, y)
