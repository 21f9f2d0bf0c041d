"""Siamese training objectives, one per module, on one registry.

A loss is a small ``nn.Module`` (it may own learnable parameters, like the BCE head) that declares
what generic code needs, so that nothing outside it tests a loss's name:

- ``arity``: 2 (pairs) or 3 (triplets), the groups of features ``forward`` takes;
- ``default_sampler``: the sampler it trains on unless told otherwise (:mod:`dissim.train.samplers`);
- ``profile_options``: constructor argument -> recipe profile setting (e.g. the triplet margin); these
  settings become part of a trained member's cache key;
- ``summary``: how a table's header describes it, ``{argument}`` fields filled from those settings;
- ``curve_label`` (optional): what its training curves plot (default "loss");
- ``forward(*features, target=None)``: the batch loss;
- ``fully(fx, fp)``: the FULLY dissimilarity feature between every image and prototype embedding;
- ``similarity(fx, fr)``: how alike queries and references are (higher = more alike), for matching;
- ``pair_logits(f1, f2)`` (optional): logits of "same class" for pairs, for validation pair losses;
- ``prepare_epoch(net, data, labels)`` (optional): called before every epoch (e.g. to recompute a
  margin from the current features).

One module per loss, each registering itself with ``@register_loss("name")`` (:mod:`.registry`); to
add one, copy the closest module, register it under a new name and import it here.
"""

from . import (  # noqa: F401  (the built-in losses register themselves)
    batch_hard,
    bce,
    contrastive,
    contrastive_ce,
    cross_entropy,
    triplet,
)
from .batch_hard import BatchHardTripletLoss
from .bce import BCEPairLoss
from .contrastive import ContrastiveLoss
from .contrastive_ce import ContrastiveCELoss
from .cross_entropy import CrossEntropyLoss
from .registry import LOSSES, check_loss, check_non_negative, create_loss, get_loss, list_losses, register_loss
from .triplet import TripletLoss

__all__ = ["BCEPairLoss", "BatchHardTripletLoss", "ContrastiveCELoss", "ContrastiveLoss", "CrossEntropyLoss", "LOSSES",
           "TripletLoss", "check_loss", "check_non_negative", "create_loss", "get_loss", "list_losses", "register_loss"]
