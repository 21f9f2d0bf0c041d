"""Siamese training: losses, pair/triplet samplers and the training loop."""

from .loop import TrainResult, train_siamese
from .losses import (
           BCEPairLoss,
           TripletLoss,
           check_loss,
           create_loss,
           list_losses,
           register_loss,
)
from .samplers import (
           BalancedBootstrapPairSampler,
           ClassBalancedPairSampler,
           ClassBalancedTripletSampler,
)

__all__ = ["BCEPairLoss", "BalancedBootstrapPairSampler", "ClassBalancedPairSampler", "ClassBalancedTripletSampler", "TrainResult", "TripletLoss",
           "check_loss", "create_loss", "list_losses", "register_loss", "train_siamese"]
