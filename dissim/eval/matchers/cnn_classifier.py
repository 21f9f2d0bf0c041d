"""``cnn``: a 1-D CNN classifier of the training classes (seen classes only)."""

from __future__ import annotations

import numpy as np
import torch

from .registry import MATCHERS
from .siamese import SiameseMatcher


@MATCHERS.register("cnn")
class CNNClassifierMatcher(SiameseMatcher):
    """A 1-D CNN classifier of the training classes (the twin's layers and a softmax layer, trained
    with cross-entropy on single spectra): the comparison of Liu et al. §3.2 on seen classes.

    ``predict(X)`` gives the most probable training class; as a matcher it compares the features
    before the softmax layer by the Euclidean distance. Training, augmentation and ``networks`` work
    as in :class:`SiameseMatcher` (an ensemble averages the members' class probabilities), but it
    trains every epoch without early stopping: validation items of other classes cannot tell how
    well it classifies its own (their feature ranking peaked before the classifier had learnt
    anything, at chance accuracy), so ``validation`` and ``validation_fraction`` are ignored.
    """

    def __init__(self, topology="liu-spectra", loss="cross-entropy", optimizer="adam", sampler="items", epochs=30,
                 batch_size=32, lr=1e-3, betas=(0.9, 0.999), lr_halving_epochs=10, patience=10,
                 early_stopping="ranking", augment=False, activation="sigmoid", validation_fraction=0.1,
                 input_size=None, networks=1, loss_options=None, sampler_options=None, device="auto", precision="auto",
                 max_reruns=0, converge_ratio=0.9, random_state=None, verbose=False):
        super().__init__(topology=topology, loss=loss, optimizer=optimizer, sampler=sampler, epochs=epochs,
                         batch_size=batch_size, lr=lr, betas=betas, lr_halving_epochs=lr_halving_epochs,
                         patience=patience, early_stopping=early_stopping, augment=augment, activation=activation,
                         validation_fraction=validation_fraction, input_size=input_size, networks=networks,
                         loss_options=loss_options, sampler_options=sampler_options, device=device,
                         precision=precision, max_reruns=max_reruns, converge_ratio=converge_ratio,
                         random_state=random_state, verbose=verbose)

    early_stops = False  # see the class docstring
    is_siamese = False
    predicts_class = True
    recipe_settings = {"epochs": "epochs", "networks": "networks"}

    def _loss_options(self, y: np.ndarray) -> dict:
        self.classes_ = np.unique(y)
        return {**(self.loss_options or {}), "n_classes": len(self.classes_)}

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, classes), the ensemble's mean."""
        features = self.embed(X)
        ends = np.cumsum([net.embedding_dim for net in self._nets()])
        with torch.no_grad():
            probabilities = [torch.softmax(loss.logits(features[:, end - net.embedding_dim:end]).float(), dim=1)
                             for loss, net, end in zip(self._losses(), self._nets(), ends)]
        return torch.stack(probabilities).mean(0).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        probabilities = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]
