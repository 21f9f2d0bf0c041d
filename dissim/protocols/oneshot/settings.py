"""One-shot recipes: ``protocol = "oneshot"`` (``kind = "oneshot"`` is read too) and a [settings] table.

    protocol = "oneshot"
    description = "..."
    [settings]
    classes = "unseen"              # "unseen": test classes never trained on (§3.1); "seen": one spectrum
                                    # of every training class is the query, the rest the references (§3.2)
    methods = ["nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", ...]   # suffix -als: ALS-corrected input;
                                    # "cnn": a 1-D CNN classifier of the training classes (seen classes only);
                                    # "cnn-features": the features of such a classifier, cosine similarity;
                                    # "siamese-lmnn": LMNN on the features of the siamese method's networks;
                                    # "a+b[+c]": the sum rule of the listed methods' z-scored similarities
    partitions = 5                  # random class partitions (each seeded from --seed)
    fractions = [0.5, 0.1, 0.4]     # train / validation / test classes (seen: [0.9, 0.1, 0.0], test = train)
    min_spectra_per_class = 2       # classes with fewer spectra are not split (see distractors)
    distractors = false             # true: their single spectra join the references as distractors
    small_classes = "none"          # who also trains on the spectra of those classes (never validation or
                                    # test classes): "networks" (siamese, cnn-features, cnn), "all" (LMNN too)
    topology = "liu-spectra"        # the Siamese twin (layer table name or path)
    features = "sigmoid"            # f(x) = σ(CNN(x)) ("none": the CNN output as it is; "l2": unit length)
    loss = "bce"                    # "bce": weighted-L1 head + BCE on bootstrap pairs; "triplet": triplet
                                    # loss on drawn triplets; "batch-hard": hardest triplets in each batch
    triplet_margin = 1.0            # the margin of the triplet and batch-hard losses
    networks = 1                    # twins trained from consecutive seeds, similarities averaged (also the CNN)
    epochs = 30                     # bootstrap iterations (--iterations overrides)
    batch_size = 32                 # pairs per mini-batch, even (--batch-size overrides)
    lr = 1e-3                       # Adam's learning rate
    lr_halving_epochs = 10          # the learning rate is halved after every this many epochs
    patience = 10                   # early stopping on validation classes
    early_stopping = "ranking"      # best epoch by validation nearest-neighbour accuracy ("loss": pair BCE;
                                    # "none": every epoch trains, the last is kept)
    cnn_epochs = 100                # epochs of cnn-features (no early stopping: the last epoch is kept)
    cnn_networks = 1                # networks of cnn-features (similarities averaged)
    augment = false                 # training augmentation: true (the default recipe) or a list of
                                    # "name:p[:option=value,...]" (shift, noise, drift, scale, mix;
                                    # dissim/train/spectrum_transforms.py), each applied with probability p;
                                    # used by the methods named -aug (siamese-aug, cnn-aug-als), or by
                                    # every siamese/cnn method when none is so named
    als_lam = 1e6                   # ALS baseline (Eilers & Boelens): smoothness
    als_p = 0.01                    # ALS asymmetry
    lmnn_pca = 50                   # PCA components before LMNN (fitted on training classes)
    lmnn_k = 1                      # LMNN target neighbours
    lmnn_max_iter = 200             # LMNN iterations at most
    threads = 1                     # torch/BLAS threads per task (--threads overrides)
    precision = "auto"              # fp32, bf16, fp16 (CUDA); auto: bf16 where the device is fast at it
    tsne_min_spectra = 3            # t-SNE figure: test classes with at least this many spectra
    primary = ""                    # the row the paired comparison puts first (chosen on validation classes)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace

import numpy as np

from ...data.spectral import SpectralPreprocessing
from ...data.splits import check_fractions
from ...errors import UserError
from ...eval.matchers import MATCHERS
from ...hardware import PRECISIONS
from ...settings import setting
from ...train import augmentation_recipe, get_loss
from ...train.samplers import SAMPLERS
from ...train.validation import EARLY_STOPPING
from ..settings_recipe import SettingsRecipes

ALS_SUFFIX = "-als"
AUG_SUFFIX = "-aug"
FUSION = "+"  # "siamese+lmnn": the sum rule of the z-scored similarities of the methods it joins
LOSSES = ("bce", "triplet", "batch-hard")  # the losses a one-shot Siamese row can train with
SMALL_CLASSES = ("none", "networks", "all")
FIGURE_PARTITION = 1  # the partition whose Siamese features the t-SNE figure shows
BATCH_UNITS = {1: "spectra", 2: "pairs", 3: "triplets"}  # what a training batch holds, by the loss's arity


@dataclass(frozen=True)
class OneShotSettings:
    classes: str = setting("unseen", choices=("unseen", "seen"))
    methods: tuple[str, ...] = setting(("nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", "nn-cosine-als",
                                        "lmnn-als", "siamese-als"), nonempty=True, unique=True)
    partitions: int = setting(5, minimum=1)
    fractions: tuple[float, float, float] = (0.5, 0.1, 0.4)
    min_spectra_per_class: int = setting(2, minimum=2)
    distractors: bool = False
    small_classes: str = setting("none", choices=SMALL_CLASSES)
    topology: str = "liu-spectra"
    features: str = setting("sigmoid", choices=("sigmoid", "none", "l2"))
    loss: str = setting("bce", choices=LOSSES)
    triplet_margin: float = setting(1.0, positive=True)
    networks: int = setting(1, minimum=1)
    epochs: int = setting(30, minimum=1)
    batch_size: int = setting(32, minimum=2, even=True)
    lr: float = setting(1e-3, positive=True)
    lr_halving_epochs: int = setting(10, minimum=1)
    patience: int = setting(10, minimum=1)
    early_stopping: str = setting("ranking", choices=(*EARLY_STOPPING, "none"))
    cnn_epochs: int = setting(100, minimum=1)
    cnn_networks: int = setting(1, minimum=1)
    augment: bool | tuple[str, ...] = False
    als_lam: float = setting(1e6, positive=True)
    als_p: float = setting(0.01, positive=True, below=1.0)
    lmnn_pca: int = setting(50, minimum=1)
    lmnn_k: int = setting(1, minimum=1)
    lmnn_max_iter: int = setting(200, minimum=1)
    threads: int = setting(1, minimum=1)
    precision: str = setting("auto", choices=PRECISIONS)
    tsne_min_spectra: int = setting(3, minimum=1)
    primary: str = ""


def trains_network(base: str) -> bool:
    """Whether matcher ``base`` trains a network (and so can be augmented), as the matcher declares."""
    return base in MATCHERS and MATCHERS.get(base).trains_network


def matcher_of(row: str):
    """The matcher class that answers a recipe row (a fused row: the matcher that fuses)."""
    return MATCHERS.get(parse_method(row)[0])


def fusing_matcher() -> str:
    """The registered matcher that joins other methods' similarities (the sum rule)."""
    return next(name for name in MATCHERS.names() if MATCHERS.get(name).fuses)


def batch_unit(loss: str) -> str:
    """What a training batch of ``loss`` holds: spectra, pairs or triplets."""
    return BATCH_UNITS[get_loss(loss).arity]


def training_sampler(matcher: str, loss: str) -> str:
    """The sampler ``matcher`` trains ``loss`` on: its own where its groups fit the loss (Liu's
    bootstrap pairs for pair losses), else the loss's default sampler."""
    own, cls = MATCHERS.get(matcher)().sampler, get_loss(loss)
    return own if SAMPLERS.get(own).arity == cls.arity else cls.default_sampler


def gives_single_views(sampler: str) -> bool:
    """Whether ``sampler`` can draw a class of one spectrum (giving it twice, as two views)."""
    return "single_views" in inspect.signature(SAMPLERS.get(sampler)).parameters


def fusion_members(name: str) -> list[str]:
    """The methods a fused row joins ('siamese+lmnn' -> ['siamese', 'lmnn']); [] for any other row."""
    return name.split(FUSION) if FUSION in name else []


def parse_method(name: str) -> tuple[str, bool]:
    """'lmnn-als' -> ('lmnn', True): the matcher and whether it runs on ALS-corrected spectra
    ('siamese-aug-als' -> ('siamese', True); see :func:`is_augmented`; a fused row 'a+b' ->
    ('sum-rule', False), its members on their own inputs)."""
    if FUSION in name:
        for member in fusion_members(name):
            parse_method(member)
        return fusing_matcher(), False
    base, als = (name[:-len(ALS_SUFFIX)], True) if name.endswith(ALS_SUFFIX) else (name, False)
    if base.endswith(AUG_SUFFIX) and trains_network(base[:-len(AUG_SUFFIX)]):
        base = base[:-len(AUG_SUFFIX)]
    if base not in MATCHERS:
        raise UserError(f"unknown one-shot method {name!r}: known are {', '.join(MATCHERS.names())}, each also with "
                        f"the suffix {ALS_SUFFIX} (baseline-corrected spectra); {', '.join(filter(trains_network, MATCHERS.names()))} also with "
                        f"{AUG_SUFFIX} before it (trained with the augment recipe); methods joined by {FUSION} "
                        "are fused by the sum rule")
    if MATCHERS.get(base).fuses:
        raise UserError(f"one-shot method {name!r}: name a fusion by the methods it joins, e.g. siamese{FUSION}lmnn")
    return base, als


def network_method(name: str) -> str:
    """The method whose training a row uses: 'siamese-lmnn-als' -> 'siamese-als' (LMNN learns on the
    siamese-als networks' features); any other row is its own."""
    base, als = parse_method(name)
    built_on = MATCHERS.get(base).built_on
    if built_on is None:
        return name
    return built_on + (ALS_SUFFIX if als else "")


def is_network(name: str) -> bool:
    """Whether row ``name`` involves a trained network (alone, built on, or fused)."""
    if FUSION in name:
        return any(is_network(m) for m in fusion_members(name))
    return trains_network(parse_method(network_method(name))[0])


def is_augmented(name: str, settings: OneShotSettings) -> bool:
    """Whether method ``name`` trains with the ``augment`` recipe: the network methods named with
    -aug do; when no method is, every network method does (as long as ``augment`` is not false)."""
    if not trains_network(parse_method(name)[0]) or not augmentation_recipe(settings.augment):
        return False
    marked = [m for m in settings.methods if _named_aug(m)]
    return not marked or name in marked


def _named_aug(name: str) -> bool:
    return name.removesuffix(ALS_SUFFIX).endswith(AUG_SUFFIX)


def check(settings: OneShotSettings, where: str) -> OneShotSettings:
    for method in settings.methods:
        parse_method(method)
    if len(set(settings.methods)) != len(settings.methods):
        raise UserError(f"{where}: a method is listed twice in {list(settings.methods)}")
    for fused in (m for m in settings.methods if FUSION in m):
        members = fusion_members(fused)
        if len(members) < 2 or len(set(members)) != len(members) or not all(members):
            raise UserError(f"{where}: fusion {fused!r} must join two or more different methods")
        missing = [m for m in members if m not in settings.methods]
        if missing:
            raise UserError(f"{where}: fusion {fused!r} joins {missing[0]!r}, which is not in methods: add it")
        classifiers = [m for m in members if matcher_of(m).predicts_class]
        if classifiers:
            raise UserError(f"{where}: fusion {fused!r}: {classifiers[0]} predicts classes, it has no similarities "
                            "to fuse")
    if settings.primary and settings.primary not in settings.methods:
        raise UserError(f"{where}: primary = {settings.primary!r} is not one of the methods")
    if settings.small_classes != "none" and settings.distractors:
        raise UserError(f"{where}: with distractors = true the spectra of small classes are references, so they "
                        'cannot train: set small_classes = "none" or distractors = false')
    try:
        augmentation_recipe(settings.augment)
    except UserError as exc:
        raise UserError(f"{where}: augment: {exc}") from None
    if any(_named_aug(m) for m in settings.methods) and not augmentation_recipe(settings.augment):
        raise UserError(f"{where}: methods named {AUG_SUFFIX} train with the augment recipe, but augment = false; "
                        "set augment = true (the default recipe) or a list of transforms")
    if settings.classes == "unseen":
        classifiers = [m for m in settings.methods if matcher_of(m).predicts_class]
        if classifiers:
            raise UserError(f"{where}: {classifiers[0]} classifies into the training classes, so it needs "
                            'classes = "seen"; remove it for unseen classes')
        return replace(settings, fractions=check_fractions(settings.fractions))
    fractions = tuple(float(f) for f in settings.fractions)
    if len(fractions) != 3 or fractions[2] != 0 or not 0 <= fractions[1] < 1 or not np.isclose(sum(fractions), 1):
        raise UserError(f'{where}: with classes = "seen" the test spectra come from the training classes: give '
                        f"fractions = [1 - v, v, 0.0] (v: validation classes), got {list(settings.fractions)}")
    if settings.distractors:
        raise UserError(f'{where}: distractors apply to classes = "unseen" only; set distractors = false')
    return replace(settings, fractions=fractions)


RECIPES = SettingsRecipes("oneshot", OneShotSettings, check)


def preprocessings(s: OneShotSettings) -> dict[bool, SpectralPreprocessing]:
    """Min-max scaling, without (False) and after (True) ALS baseline correction."""
    return {als: SpectralPreprocessing(als=als, als_lam=s.als_lam, als_p=s.als_p) for als in (False, True)}
