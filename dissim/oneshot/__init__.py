"""One-shot spectrum matching (Liu et al.): the Siamese 1-D CNN, its training, the protocol on
unseen classes, the nearest-neighbour and LMNN baselines, and the run behind ``kind = "oneshot"`` recipes."""

from .model import SiameseSpectra
from .protocol import Partition, eligible_classes, make_partitions, score_predictions
from .train import TrainHistory, TrainSettings, train_siamese_spectra

__all__ = ["Partition", "SiameseSpectra", "TrainHistory", "TrainSettings", "eligible_classes", "make_partitions",
           "score_predictions", "train_siamese_spectra"]
