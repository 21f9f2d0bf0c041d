"""Pair-verification recipes: ``protocol = "verify"`` and a [settings] table (Borsani 2023).

    protocol = "verify"
    description = "..."
    [settings]
    topology = "borsani"            # the twin (layer table name or path)
    input_size = 32                 # images zero-padded to a square and resized to this side
    fractions = [0.64, 0.16, 0.20]  # train / validation / test images (stratified)
    partners = 5                    # every image is paired with this many random others
    test_partners = 15              # the one-vs-15 test: every test image against 15 random others
    epochs = 30                     # --iterations overrides
    batch_size = 64                 # pairs per batch (--batch-size overrides)
    lr = 0.01                       # Adam
    weight_decay = 2.5e-4           # Adam's weight decay
    lr_gamma = 0.9                  # learning rate times gamma after every epoch
    augment_p = 0.7                 # horizontal flip, vertical flip, greyscale: each with this probability
    augment_paired = true           # the same augmentation for both images of a pair
    repeats = 3                     # random splits (each seeded from --seed)
    precision = "auto"              # fp32, bf16, fp16 (CUDA); auto: bf16 where the device is fast at it
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ...hardware import PRECISIONS
from ...settings import setting
from ..settings_recipe import SettingsRecipes


@dataclass(frozen=True)
class VerifySettings:
    topology: str = "borsani"
    input_size: int = setting(32, minimum=1)
    fractions: tuple[float, float, float] = setting((0.64, 0.16, 0.20), positive=True)
    partners: int = setting(5, minimum=1)
    test_partners: int = setting(15, minimum=1)
    epochs: int = setting(30, minimum=1)
    batch_size: int = setting(64, minimum=2)
    lr: float = setting(0.01, positive=True)
    weight_decay: float = setting(2.5e-4, minimum=0.0)
    lr_gamma: float = setting(0.9, positive=True, maximum=1.0)
    augment_p: float = setting(0.7, minimum=0.0, maximum=1.0)
    augment_paired: bool = True
    repeats: int = setting(3, minimum=1)
    precision: str = setting("auto", choices=PRECISIONS)


def check(settings: VerifySettings, where: str) -> VerifySettings:
    if not np.isclose(sum(settings.fractions), 1.0):
        raise UserError(f"{where}: fractions must be three positive numbers (train, validation, test) summing to 1, "
                        f"got {list(settings.fractions)}")
    return settings


RECIPES = SettingsRecipes("verify", VerifySettings, check)
