"""Siamese training: losses, samplers, augmentation, validation, the one training loop, and
:func:`train_twin`, which builds a network from its settings and trains it."""

from .augment import AUGMENTATIONS, NoAugmentation, SpectrumAugmentation
from .loop import TrainHistory, fit
from .losses import (
           LOSSES,
           check_loss,
           create_loss,
           get_loss,
           list_losses,
           register_loss,
)
from .losses.bce import BCEPairLoss
from .losses.triplet import TripletLoss
from .samplers import (
           SAMPLERS,
           BalancedBootstrapPairSampler,
           ClassBalancedPairSampler,
           ClassBalancedTripletSampler,
)
from .spectrum_transforms import (
           DEFAULT_SPECTRUM_RECIPE,
           SPECTRUM_TRANSFORMS,
           augmentation_recipe,
           parse_transform,
)
from .twin import (
           TrainedTwin,
           TrainingAttempts,
           TwinConfig,
           converged,
           train_twin,
           train_twin_with_retries,
)
from .validation import Validator
from .estimator import RETRIES, TwinTraining, resolve_seed

__all__ = ["AUGMENTATIONS", "RETRIES", "TwinTraining", "resolve_seed", "BCEPairLoss", "BalancedBootstrapPairSampler", "ClassBalancedPairSampler",
           "ClassBalancedTripletSampler", "DEFAULT_SPECTRUM_RECIPE", "LOSSES", "NoAugmentation", "SAMPLERS",
           "SPECTRUM_TRANSFORMS", "SpectrumAugmentation", "TrainHistory", "TrainedTwin", "TrainingAttempts", "TripletLoss",
           "TwinConfig", "Validator", "augmentation_recipe", "check_loss", "converged", "create_loss", "fit", "get_loss",
           "list_losses", "parse_transform", "register_loss", "train_twin", "train_twin_with_retries"]
