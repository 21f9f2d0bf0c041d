"""Siamese training: losses, samplers, augmentation, validation, the one training loop, and
:func:`train_twin`, which builds a network from its settings and trains it."""

from .augment import AUGMENTATIONS, NoAugmentation, SpectrumJitter
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
from .twin import (
           TrainedTwin,
           TrainingAttempts,
           TwinConfig,
           converged,
           train_twin,
           train_twin_with_retries,
)
from .validation import Validator

__all__ = ["TrainingAttempts", "converged", "train_twin_with_retries", "AUGMENTATIONS", "BCEPairLoss", "BalancedBootstrapPairSampler", "ClassBalancedPairSampler",
           "ClassBalancedTripletSampler", "LOSSES", "NoAugmentation", "SAMPLERS", "SpectrumJitter", "TrainHistory",
           "TrainedTwin", "TripletLoss", "TwinConfig", "Validator", "check_loss", "create_loss", "fit", "get_loss",
           "list_losses", "register_loss", "train_twin"]
