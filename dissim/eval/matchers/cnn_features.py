"""Frozen CNN features: a 1-D CNN classifier trained on the training classes, whose penultimate
layer (the twin's features, before the softmax layer) embeds spectra of any class; spectra are
compared by the cosine similarity of their features (the frozen-feature approach of Soysal et al.
2025, with the reference spectra themselves in place of a retrained head)."""

from __future__ import annotations

import numpy as np
import torch

from .registry import MATCHERS
from .siamese import SiameseMatcher


@MATCHERS.register("cnn-features")
class CNNFeaturesMatcher(SiameseMatcher):
    """The features of a CNN classifier (the layers of ``topology`` and a softmax layer, cross-entropy
    on single spectra, every epoch, no early stopping: validation classes are not among its classes),
    compared by the cosine similarity; ``networks`` > 1 averages the members' similarities. Training
    and augmentation work as in :class:`~dissim.eval.matchers.SiameseMatcher`; ``validation`` is ignored.
    """

    def __init__(self, topology="liu-spectra", loss="cross-entropy", optimizer="adam", sampler="items", epochs=100,
                 batch_size=32, lr=1e-3, betas=(0.9, 0.999), lr_halving_epochs=50, patience=10,
                 early_stopping="none", augment=False, activation="none", validation_fraction=0.0,
                 input_size=None, networks=1, loss_options=None, sampler_options=None, device="auto", precision="auto",
                 max_reruns=0, converge_ratio=0.9, random_state=None, verbose=False):
        super().__init__(topology=topology, loss=loss, optimizer=optimizer, sampler=sampler, epochs=epochs,
                         batch_size=batch_size, lr=lr, betas=betas, lr_halving_epochs=lr_halving_epochs,
                         patience=patience, early_stopping=early_stopping, augment=augment, activation=activation,
                         validation_fraction=validation_fraction, input_size=input_size, networks=networks,
                         loss_options=loss_options, sampler_options=sampler_options, device=device,
                         precision=precision, max_reruns=max_reruns, converge_ratio=converge_ratio,
                         random_state=random_state, verbose=verbose)

    early_stops = False
    is_siamese = False
    recipe_settings = {"epochs": "cnn_epochs", "networks": "cnn_networks"}

    @classmethod
    def recipe_note(cls, settings) -> str:
        s = settings
        return (f" cnn-features: the same layers with a softmax layer over the classes it trains on, cross-entropy "
                f"on single spectra, {s.cnn_epochs} epochs (the last kept)"
                + (f", {s.cnn_networks} networks (similarities averaged)" if s.cnn_networks > 1 else "")
                + ", then frozen: its features (before the softmax layer) are compared by the cosine similarity.")

    def _loss_options(self, y: np.ndarray) -> dict:
        self.classes_ = np.unique(y)
        return {**(self.loss_options or {}), "n_classes": len(self.classes_)}

    def compare(self, fq, fr) -> np.ndarray:
        """Cosine similarity of features (Q, D) and (R, D): (Q, R) float32 (an ensemble's: the mean over
        its members, each on its own slice of the features)."""
        device = self.net_.device
        fq, fr = torch.as_tensor(fq, device=device).float(), torch.as_tensor(fr, device=device).float()
        total, end = 0, 0
        with torch.no_grad():
            for net in self._nets():
                part = slice(end, end + net.embedding_dim)
                end += net.embedding_dim
                total = total + torch.nn.functional.normalize(fq[:, part], dim=1) @ \
                    torch.nn.functional.normalize(fr[:, part], dim=1).T
        return (total / len(self._nets())).cpu().numpy()
