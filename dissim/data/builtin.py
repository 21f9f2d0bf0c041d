"""The packaged data sets: digits (embedded default), folder trees, and the paper's image sets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from .dataset import ImageSet
from .folder import load_image_tree
from .registry import register_dataset
from .splits import stratified_folds


@register_dataset("digits", "scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), stratified 5-fold; embedded")
def load_digits_set(root: Path | None, seed: int) -> ImageSet:
    """scikit-learn's ``load_digits``, scaled from 0-16 to 0-255 grey levels."""
    if root is not None:
        raise UserError("digits is embedded in scikit-learn: drop --data-root")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    return ImageSet(
        name="digits", read=lambda i: images[i], labels=labels,
        class_names=[str(c) for c in bunch.target_names],
        folds=stratified_folds(labels, 5, seed, where="digits"),
        fingerprint=hashlib.blake2b(images.tobytes() + labels.tobytes(), digest_size=20).hexdigest(), channels=1,
        protocol=f"stratified 5-fold cross-validation (seed {seed})")


@register_dataset("folder", "any root/<class>/<image> tree (stratified 5-fold) or root/Fold<k>/<class>/<image> (given folds); --data-root")
def load_folder_set(root: Path | None, seed: int) -> ImageSet:
    if root is None:
        raise UserError("the folder data set needs --data-root DIR (or a .zip) laid out as "
                        "DIR/<class>/<image> or DIR/Fold<k>/<class>/<image>")
    return load_image_tree(root, "folder", seed)


INFLAR_HELP = ("InfLar (NBI-InfFrames, Moccia et al. 2018) is not bundled: download FRAMES.zip from Zenodo "
               "(doi 10.5281/zenodo.1162784, CC BY-NC 4.0) and pass --data-root FRAMES.zip or its unpacked "
               "folder, laid out as FRAMES/Fold1..Fold3/{B,I,S,U}/<frame>.png")


@register_dataset("InfLar", "laryngoscopic frames, 4 classes, the 3 patient-disjoint folds of FRAMES.zip; --data-root")
def load_inflar(root: Path | None, seed: int) -> ImageSet:
    if root is None:
        raise UserError(INFLAR_HELP)
    data = load_image_tree(root, "InfLar", seed, expected_classes=["B", "I", "S", "U"], expected_folds=3,
                           help_text=INFLAR_HELP)
    data.protocol = "the three patient-disjoint Fold folders of FRAMES.zip are the test folds"
    return data


def _paper_set(name: str, summary: str, source: str, n_splits: int | None, needs_folds_because: str = ""):
    """Register one of the paper's user-supplied image sets over the folder loader."""
    help_text = (f"{name} is not bundled: {source}; pass --data-root DIR laid out as "
                 + ("DIR/Fold<k>/<class>/<image>" if n_splits is None
                    else "DIR/<class>/<image> (or DIR/Fold<k>/<class>/<image> for given folds)"))

    def load(root: Path | None, seed: int) -> ImageSet:
        if root is None:
            raise UserError(help_text)
        data = load_image_tree(root, name, seed, n_splits=n_splits or 5, help_text=help_text)
        if n_splits is None and "Fold folders" not in data.protocol:
            raise UserError(f"{name} needs its published split ({needs_folds_because}): {help_text}")
        return data

    load.__doc__ = summary
    register_dataset(name, summary)(load)


_paper_set("RPE", "stem-cell retinal pigmented epithelium, 1862 images, 4 classes, given folds; --data-root",
           "see Nanni et al., PLoS ONE 11 (2016) e0149399 (doi 10.1371/journal.pone.0149399)", None,
           "subwindows of one image must stay in one fold")
_paper_set("Port", "portrait paintings, 927 images, 6 art movements, 10-fold CV; --data-root",
           "see Liu et al., Image Vision Comput. 108 (2021) 104121", 10)
_paper_set("BIRDz", "bird-call spectrograms, 11 species, ten runs on the split of Zhang et al. 2018; --data-root",
           "see Zhang et al., ICASSP 2018, 271-275 (Xeno-canto recordings)", None,
           "the ten runs use the split of Zhang et al. 2018")
_paper_set("CAT", "domestic cat sound spectrograms, 10 classes, 2962 samples, 10-fold CV; --data-root",
           "see Pandeya et al., Appl. Sci. 8 (2018) 1949", 10)
