"""Build a reference library from a spectral data set: train a Siamese matcher, store the references.

The matcher trains on the classes with at least two spectra, a tenth of them (at least two, when
there are six or more) held out whole for early stopping: the paper's protocol without test
classes, since a library is for classes seen or not. Then every spectrum of the data set, of every
class, becomes a reference.
"""

from __future__ import annotations

import numpy as np

from ..data.spectra import SpectraSet
from ..data.spectral import SpectralPreprocessing
from ..errors import UserError
from ..eval.matchers import SiameseMatcher
from .reference import ReferenceLibrary


def build_library(data: SpectraSet, matcher: SiameseMatcher, *, preprocessing: SpectralPreprocessing | None = None,
                  references: bool = True) -> ReferenceLibrary:
    """A library whose ``matcher`` is trained on ``data`` and which holds all of its spectra (if ``references``)."""
    preprocessing = preprocessing or SpectralPreprocessing()
    counts = np.bincount(data.labels)
    if np.sum(counts >= 2) < 2:
        raise UserError(f"{data.name}: training needs at least two classes with two or more spectra; "
                        f"it has {int(np.sum(counts >= 2))}")
    trainable = np.isin(data.labels, np.flatnonzero(counts >= 2))
    x = preprocessing(data.spectra)
    matcher = matcher.fit(x[trainable], data.labels[trainable])
    library = ReferenceLibrary(matcher, data.wavenumbers, preprocessing, axis=data.axis)
    history = matcher.history_
    library.info_ = {"dataset": data.name, "fingerprint": data.fingerprint, "matcher": matcher.get_params(),
                     "trainable_classes": int(np.sum(counts >= 2)), "epochs_run": len(history.train_loss),
                     "best_epoch": history.best_epoch}
    library.clear()
    if references:
        library.add(data.spectra, [data.class_names[c] for c in data.labels], ids=data.item_ids)
    return library
