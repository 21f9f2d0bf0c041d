"""The Python API refuses what it cannot honour, before any training, naming the parameter:
scikit-learn's parameter constraints (NaN, negative and mistyped hyper-parameters), labels that are
not classes (NaN), keywords fit does not take (sample_weight), damaged inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_1D, TINY_TOPOLOGY
from sklearn.svm import SVC

from dissim import (
    CNNClassifierMatcher,
    LMNNMatcher,
    OpenSetCNN,
    OpenSetSiamese,
    PairVerifier,
    ReferenceLibrary,
    SiameseDissimilarity,
    SiameseMatcher,
    SumRuleEnsemble,
)
from dissim.errors import UserError
from dissim.eval import FineTunedCNN
from dissim.train import loop

IMAGES = dict(topology=str(TINY_TOPOLOGY), random_state=0, device="cpu")
SPECTRA = dict(topology=TINY_1D, random_state=0, device="cpu")


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Every case must be refused before the training loop starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(loop, "fit", refuse)
    monkeypatch.setattr("dissim.train.twin.fit", refuse)


def images(n=24):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 12, 12), dtype=np.uint8), np.arange(n) % 3


def spectra(n=24):
    rng = np.random.default_rng(0)
    return rng.random((n, 40)), np.arange(n) % 3


CASES = [
    # (estimator, data, parameter named in the message)
    (SiameseDissimilarity(iterations=float("nan"), **IMAGES), images, "iterations"),
    (SiameseDissimilarity(iterations="10", **IMAGES), images, "iterations"),
    (SiameseDissimilarity(lr=float("nan"), **IMAGES), images, "lr"),
    (SiameseDissimilarity(batch_size=-4, **IMAGES), images, "batch_size"),
    (SiameseDissimilarity(converge_ratio=-1.0, **IMAGES), images, "converge_ratio"),
    (SiameseDissimilarity(precision="fp64", **IMAGES), images, "precision"),
    (SiameseDissimilarity(betas=(0.9, 1.5), **IMAGES), images, "betas"),
    (SiameseDissimilarity(prototypes=(2, 2), **IMAGES), images, "prototypes"),
    (SiameseDissimilarity(loss="triplet", loss_options={"margin": float("nan")}, iterations=1, batch_size=4,
                          prototypes=1, **IMAGES), images, "margin"),
    (SiameseDissimilarity(loss="triplet", loss_options={"margin": -1.0}, iterations=1, batch_size=4,
                          prototypes=1, **IMAGES), images, "margin"),
    (OpenSetSiamese(threshold=float("nan"), **SPECTRA), spectra, "threshold"),
    (OpenSetSiamese(margin=-2.5, **SPECTRA), spectra, "margin"),
    (OpenSetSiamese(alpha1=float("inf"), **SPECTRA), spectra, "alpha1"),
    (OpenSetSiamese(loss="hinge", **SPECTRA), spectra, "loss"),
    (OpenSetCNN(false_rejection=1.5, **SPECTRA), spectra, "false_rejection"),
    (OpenSetCNN(reject="no", **SPECTRA), spectra, "reject"),
    (PairVerifier(lr_gamma=-0.9, **IMAGES), images, "lr_gamma"),
    (PairVerifier(lr_gamma=float("nan"), **IMAGES), images, "lr_gamma"),
    (PairVerifier(weight_decay=-1.0, **IMAGES), images, "weight_decay"),
    (PairVerifier(augment_p=2.0, **IMAGES), images, "augment_p"),
    (SiameseMatcher(lr_halving_epochs=0, **SPECTRA), spectra, "lr_halving_epochs"),
    (SiameseMatcher(patience=float("nan"), **SPECTRA), spectra, "patience"),
    (SiameseMatcher(activation="tanh", **SPECTRA), spectra, "activation"),
    (CNNClassifierMatcher(validation_fraction=-0.1, **SPECTRA), spectra, "validation_fraction"),
    (FineTunedCNN(momentum=1.5, device="cpu"), images, "momentum"),
    (FineTunedCNN(momentum=float("nan"), device="cpu"), images, "momentum"),
    (FineTunedCNN(last_layer_lr_factor=0, device="cpu"), images, "last_layer_lr_factor"),
    (LMNNMatcher(learn_rate=-1e-6), spectra, "learn_rate"),
    (ReferenceLibrary(batch_size=0), spectra, "batch_size"),
    (SumRuleEnsemble(members="svm"), spectra, "members"),
]


@pytest.mark.parametrize("estimator, data, parameter", CASES,
                         ids=[f"{type(e).__name__}-{p}-{i}" for i, (e, _, p) in enumerate(CASES)])
def test_a_bad_parameter_is_named_before_training(estimator, data, parameter):
    X, y = data()
    with pytest.raises(ValueError, match=parameter):
        estimator.fit(X, y)


def test_every_estimator_declares_its_parameters_to_scikit_learn():
    for estimator in {e for e, _, _ in CASES}:
        assert set(estimator._parameter_constraints) == set(estimator.get_params(deep=False)), type(estimator)


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0, np.nan] * 8), np.array(["a", "b", None] * 8, dtype=object)],
                         ids=["nan", "none"])
def test_missing_labels_are_not_a_class(labels):
    X, _ = images()
    with pytest.raises(ValueError, match="every item needs a class label"):
        SiameseDissimilarity(iterations=1, batch_size=4, prototypes=1, **IMAGES).fit(X, labels)
    with pytest.raises(ValueError, match="Input y contains NaN|every item needs a class label"):
        SumRuleEnsemble([("svm", SVC())]).fit(spectra()[0], labels)


def test_continuous_labels_are_refused():
    X, _ = images()
    with pytest.raises(ValueError, match="Unknown label type"):
        SiameseDissimilarity(iterations=1, batch_size=4, prototypes=1, **IMAGES).fit(X, np.linspace(0, 1, 24))


@pytest.mark.parametrize("keyword", ["sample_weight", "epochs"])
def test_fit_takes_no_keywords_it_would_ignore(keyword):
    X, y = images()
    with pytest.raises(TypeError, match=keyword):
        SiameseDissimilarity(iterations=1, batch_size=4, prototypes=1, **IMAGES).fit(X, y, **{keyword: np.ones(24)})


def test_a_huge_api_training_is_refused_with_the_memory_it_needs():
    X, y = images()
    with pytest.raises(UserError, match="GiB of memory"):
        SiameseDissimilarity(iterations=10**12, batch_size=4, prototypes=1, **IMAGES).fit(X, y)


def test_a_wide_image_array_is_refused_before_padding():
    X = np.zeros((6, 1, 100000), np.uint8)
    with pytest.raises(UserError, match="square padding"):
        SiameseDissimilarity(iterations=1, batch_size=4, prototypes=1, **IMAGES).fit(X, np.arange(6) % 2)
