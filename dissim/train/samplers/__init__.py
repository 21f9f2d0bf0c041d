"""Pair and triplet samplers for Siamese training (index arrays, vectorised, seeded), on one registry.

A sampler is built as ``sampler(labels, rng)``; ``sample(batch_size)`` returns (index groups, target or
None); ``arity`` is the number of groups (2: pairs, 3: triplets) and must match the loss's;
``batches_per_epoch(batch_size)`` says how many batches make one epoch.

One module per sampler, each registering itself on :data:`SAMPLERS` (:mod:`.registry`); to add one,
copy the closest module, register it under a new name and import it here.
"""

from . import (  # noqa: F401  (the built-in samplers register themselves)
    bootstrap_pairs,
    class_balanced_pairs,
    class_balanced_triplets,
    class_pairs,
    items,
    labelled_pairs,
    partners,
)
from .bootstrap_pairs import BalancedBootstrapPairSampler
from .class_balanced_pairs import ClassBalancedPairSampler
from .class_balanced_triplets import ClassBalancedTripletSampler
from .class_pairs import ClassPairItemSampler
from .items import ItemSampler
from .labelled_pairs import LabelledPairSampler
from .partners import PartnerPairSampler, partner_pairs
from .registry import SAMPLERS

__all__ = ["BalancedBootstrapPairSampler", "ClassBalancedPairSampler", "ClassBalancedTripletSampler",
           "ClassPairItemSampler", "ItemSampler", "LabelledPairSampler", "PartnerPairSampler", "SAMPLERS",
           "partner_pairs"]
