"""What each one-shot matcher is given: its parameters, from the recipe's settings as the matcher
declares them (``recipe_settings``, ``trains_network``), and the loss, its options and sampler."""

from __future__ import annotations

from ...eval.matchers import MATCHERS
from ...train import augmentation_recipe, get_loss
from .settings import OneShotSettings, gives_single_views, parse_method, trains_network, training_sampler


def matcher_params(matcher: str, s: OneShotSettings, seed: int, device: str, progress: bool,
                   augment: bool = False, small_classes: bool = False) -> dict:
    """The recipe settings each matcher takes (the protocol splits classes itself: no validation_fraction);
    ``augment``: whether a network trains with the recipe's augmentation; ``small_classes``: whether it
    also trains on the spectra of classes too small to split. What a matcher reads from the settings it
    declares (``recipe_settings``, ``trains_network``); a loss, its options and sampler."""
    cls = MATCHERS.get(matcher)
    params = {}
    if cls.trains_network:
        params = {"topology": s.topology, "batch_size": s.batch_size, "lr": s.lr,
                  "lr_halving_epochs": s.lr_halving_epochs, "patience": s.patience,
                  "augment": list(augmentation_recipe(s.augment)) if augment else False, "activation": "none",
                  "validation_fraction": 0.0, "device": device, "precision": s.precision, "random_state": seed,
                  "verbose": progress}
    params.update(recipe_values(matcher, s))
    if not cls.trains_network and "random_state" in cls().get_params():
        params["random_state"] = seed % 2**31
    if "loss" in params:
        params.update(loss_params(matcher, s, small_classes))
    return params


def recipe_values(matcher: str, s: OneShotSettings) -> dict:
    """The matcher's parameters that the recipe's settings give, as the matcher declares them."""
    return {param: getattr(s, setting) for param, setting in MATCHERS.get(matcher).recipe_settings.items()}


def loss_params(matcher: str, s: OneShotSettings, small_classes: bool) -> dict:
    """The sampler and loss options of a matcher that trains with the recipe's loss: the sampler
    (:func:`~.settings.training_sampler`); the loss's options from the settings it names; where the
    sampler can, classes of one spectrum (small classes) give two views of it."""
    sampler = training_sampler(matcher, s.loss)
    params = {"sampler": sampler}
    options = {option: getattr(s, setting) for option, setting in get_loss(s.loss).profile_options.items()}
    if options:
        params["loss_options"] = options
    if small_classes and gives_single_views(sampler):
        params["sampler_options"] = {"single_views": True}
    return params


def trains_on_small_classes(method: str, s: OneShotSettings) -> bool:
    """Whether ``method``'s matcher also learns from the spectra of the classes too small to split."""
    return s.small_classes == "all" or (s.small_classes == "networks" and trains_network(parse_method(method)[0]))
