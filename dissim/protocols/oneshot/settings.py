"""One-shot recipes: ``protocol = "oneshot"`` (``kind = "oneshot"`` is read too) and a [settings] table.

    protocol = "oneshot"
    description = "..."
    [settings]
    methods = ["nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", ...]   # suffix -als: ALS-corrected input
    partitions = 5                  # random class partitions (each seeded from --seed)
    fractions = [0.5, 0.1, 0.4]     # train / validation / test classes
    min_spectra_per_class = 2       # classes with fewer spectra are not split (see distractors)
    distractors = false             # true: their single spectra join the references as distractors
    topology = "liu-spectra"        # the Siamese twin (layer table name or path)
    features = "sigmoid"            # f(x) = σ(CNN(x)) ("none": the CNN output as it is)
    epochs = 30                     # bootstrap iterations (--iterations overrides)
    batch_size = 32                 # pairs per mini-batch, even (--batch-size overrides)
    lr = 1e-3
    lr_halving_epochs = 10
    patience = 10                   # early stopping on validation classes
    early_stopping = "ranking"      # best epoch by validation nearest-neighbour accuracy ("loss": pair BCE)
    augment = false                 # training augmentation: true (the default recipe) or a list of
                                    # "name:p[:option=value,...]" (shift, noise, drift, scale, mix;
                                    # dissim/train/spectrum_transforms.py), each applied with probability p
    als_lam = 1e6                   # ALS baseline (Eilers & Boelens): smoothness
    als_p = 0.01                    # ALS asymmetry
    lmnn_pca = 50                   # PCA components before LMNN (fitted on training classes)
    lmnn_k = 1
    lmnn_max_iter = 200
    threads = 1                     # torch/BLAS threads per task (--threads overrides)
    precision = "auto"              # fp32, bf16, fp16 (CUDA); auto: bf16 where the device is fast at it
    tsne_min_spectra = 3            # t-SNE figure: test classes with at least this many spectra
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...data.spectral import SpectralPreprocessing
from ...data.splits import check_fractions
from ...errors import UserError
from ...eval.matchers import MATCHERS
from ...hardware import PRECISIONS
from ...settings import setting
from ...train import augmentation_recipe
from ...train.validation import EARLY_STOPPING
from ..settings_recipe import SettingsRecipes

ALS_SUFFIX = "-als"
FIGURE_PARTITION = 1  # the partition whose Siamese features the t-SNE figure shows


@dataclass(frozen=True)
class OneShotSettings:
    methods: tuple[str, ...] = setting(("nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", "nn-cosine-als",
                                        "lmnn-als", "siamese-als"), nonempty=True)
    partitions: int = setting(5, minimum=1)
    fractions: tuple[float, float, float] = (0.5, 0.1, 0.4)
    min_spectra_per_class: int = setting(2, minimum=2)
    distractors: bool = False
    topology: str = "liu-spectra"
    features: str = setting("sigmoid", choices=("sigmoid", "none"))
    epochs: int = setting(30, minimum=1)
    batch_size: int = setting(32, minimum=2, even=True)
    lr: float = setting(1e-3, positive=True)
    lr_halving_epochs: int = setting(10, minimum=1)
    patience: int = setting(10, minimum=1)
    early_stopping: str = setting("ranking", choices=EARLY_STOPPING)
    augment: bool | tuple[str, ...] = False
    als_lam: float = setting(1e6, positive=True)
    als_p: float = setting(0.01, positive=True, below=1.0)
    lmnn_pca: int = setting(50, minimum=1)
    lmnn_k: int = setting(1, minimum=1)
    lmnn_max_iter: int = setting(200, minimum=1)
    threads: int = setting(1, minimum=1)
    precision: str = setting("auto", choices=PRECISIONS)
    tsne_min_spectra: int = setting(3, minimum=1)


def parse_method(name: str) -> tuple[str, bool]:
    """'lmnn-als' -> ('lmnn', True): the matcher and whether it runs on ALS-corrected spectra."""
    base, als = (name[:-len(ALS_SUFFIX)], True) if name.endswith(ALS_SUFFIX) else (name, False)
    if base not in MATCHERS:
        raise UserError(f"unknown one-shot method {name!r}: known are {', '.join(MATCHERS.names())}, each also with "
                        f"the suffix {ALS_SUFFIX} (baseline-corrected spectra)")
    return base, als


def check(settings: OneShotSettings, where: str) -> OneShotSettings:
    for method in settings.methods:
        parse_method(method)
    if len(set(settings.methods)) != len(settings.methods):
        raise UserError(f"{where}: a method is listed twice in {list(settings.methods)}")
    try:
        augmentation_recipe(settings.augment)
    except UserError as exc:
        raise UserError(f"{where}: augment: {exc}") from None
    return replace(settings, fractions=check_fractions(settings.fractions))


RECIPES = SettingsRecipes("oneshot", OneShotSettings, check)


def preprocessings(s: OneShotSettings) -> dict[bool, SpectralPreprocessing]:
    """Min-max scaling, without (False) and after (True) ALS baseline correction."""
    return {als: SpectralPreprocessing(als=als, als_lam=s.als_lam, als_p=s.als_p) for als in (False, True)}
