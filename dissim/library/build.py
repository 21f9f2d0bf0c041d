"""Build a reference library from a spectral data set: train the Siamese network, embed references.

The network trains on the classes with at least two spectra (a tenth of them, at least two, are
held out for early stopping; the paper's protocol without test classes, since a library is for
classes seen or not); then every spectrum of the data set, of every class, becomes a reference.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.spectra import SpectraSet
from ..data.spectral import SpectralPreprocessing
from ..errors import UserError
from ..nets import get_topology
from ..oneshot.model import SiameseSpectra
from ..oneshot.protocol import eligible_classes
from ..oneshot.train import TrainSettings, train_siamese_spectra
from .reference import ReferenceLibrary

VALIDATION_FRACTION = 0.1


def build_library(data: SpectraSet, *, topology: str = "liu-spectra", settings: TrainSettings | None = None,
                  preprocessing: SpectralPreprocessing | None = None, seed: int = 1, device: str = "cpu",
                  references: bool = True, progress: bool = False, features: str = "sigmoid") -> ReferenceLibrary:
    """A library whose network was trained on ``data`` and which holds all of its spectra (if ``references``)."""
    settings = settings or TrainSettings()
    preprocessing = preprocessing or SpectralPreprocessing()
    eligible = eligible_classes(data.labels, 2)
    if len(eligible) < 2:
        raise UserError(f"{data.name}: training needs at least two classes with two or more spectra; "
                        f"it has {len(eligible)}")
    rng = np.random.default_rng([seed, 0])
    n_val = max(2, int(round(VALIDATION_FRACTION * len(eligible)))) if len(eligible) >= 6 else 0
    shuffled = rng.permutation(eligible)
    val_classes, train_classes = shuffled[:n_val], shuffled[n_val:]
    train = np.flatnonzero(np.isin(data.labels, train_classes))
    val = np.flatnonzero(np.isin(data.labels, val_classes))
    x = preprocessing(data.spectra)
    torch.manual_seed(seed)
    model = SiameseSpectra(get_topology(topology), data.length, features).to(device)
    history = train_siamese_spectra(model, x[train], data.labels[train], x[val] if n_val else None,
                                    data.labels[val] if n_val else None, settings, rng, progress=progress,
                                    desc=f"{data.name} library")
    info = {"dataset": data.name, "fingerprint": data.fingerprint, "topology": topology, "seed": seed,
            "training": settings.to_dict(), "train_classes": len(train_classes),
            "validation_classes": len(val_classes), "epochs_run": len(history.train_loss),
            "best_epoch": history.best_epoch}
    library = ReferenceLibrary(model.cpu(), data.wavenumbers, preprocessing, axis=data.axis, info=info)
    if references:
        library.add(data.spectra, [data.class_names[c] for c in data.labels], ids=data.item_ids)
    return library
