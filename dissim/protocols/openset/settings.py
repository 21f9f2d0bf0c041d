"""Open-set recipes: ``protocol = "openset"`` and a [settings] table (EMIS Siamese-CNN, J. Electron. Test. 2023).

    protocol = "openset"
    description = "..."
    [settings]
    methods = ["siamese-contrastive-ce", "siamese-contrastive", "closed-set-cnn", "closed-set-cnn-max-softmax",
               "closed-set-cnn-energy"]
                                    # the rows of the table; the three CNN rows share one training
    topology = "emis-cnn1d"         # the sub-network of every model (layer table name or path)
    min_per_class = 6               # classes with at least this many spectra take part
    train_per_class = 14            # training spectra per known class; the rest of it is test
    background = ""                 # input layer σ(x ⊙ b): "" (none), "class:NAME" (that class's mean
                                    # spectrum; the class then leaves the data) or "file:PATH" (one value per point)
    epochs = 200                    # Siamese epochs (--iterations overrides)
    cnn_epochs = 200                # closed-set CNN epochs (an epoch of a few dozen spectra is one batch)
    batch_size = 64                 # pairs (Siamese) or spectra (CNN) per batch (--batch-size overrides)
    lr = 1e-3                       # Adam, betas (0.9, 0.999)
    margin = 2.5                    # η (§4.2); 0: eq. (10), the largest distance between class centres
    alpha1 = 1.0                    # α1 of eq. (22): weight of the contrastive loss
    alpha2 = 1.0                    # α2 of eq. (22): weight of the cross-entropy difference term
    ce_margin = 2.5                 # ξ of eq. (22)
    ce_weight = 1.0                 # weight of the two softmax outputs' cross-entropies (0: eq. 22 alone)
    negatives_per_positive = 3      # different-class pairs drawn per same-class pair
    false_rejection = 0.05          # rejection thresholds let through all but this fraction of the training spectra
    precision = "auto"              # fp32, bf16, fp16 (CUDA); auto: bf16 where the device is fast at it

Each class of the data set is held out in turn as the unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from ...hardware import PRECISIONS
from ...settings import setting
from ..settings_recipe import SettingsRecipes

METHODS = ("siamese-contrastive-ce", "siamese-contrastive", "closed-set-cnn", "closed-set-cnn-max-softmax",
           "closed-set-cnn-energy")


@dataclass(frozen=True)
class OpenSetSettings:
    methods: tuple[str, ...] = setting(METHODS, choices=METHODS, nonempty=True, unique=True)
    topology: str = "emis-cnn1d"
    min_per_class: int = setting(6, minimum=2)
    train_per_class: int = setting(14, minimum=2)
    background: str = ""
    epochs: int = setting(200, minimum=1)
    cnn_epochs: int = setting(200, minimum=1)
    batch_size: int = setting(64, minimum=2)
    lr: float = setting(1e-3, positive=True)
    margin: float = setting(2.5, minimum=0.0)
    alpha1: float = setting(1.0, minimum=0.0)
    alpha2: float = setting(1.0, minimum=0.0)
    ce_margin: float = setting(2.5, minimum=0.0)
    ce_weight: float = setting(1.0, minimum=0.0)
    negatives_per_positive: int = setting(3, minimum=1)
    false_rejection: float = setting(0.05, minimum=0.0, below=1.0)
    precision: str = setting("auto", choices=PRECISIONS)


def check(settings: OpenSetSettings, where: str) -> OpenSetSettings:
    if settings.train_per_class >= settings.min_per_class:
        raise UserError(f"{where}: train_per_class ({settings.train_per_class}) must be below min_per_class "
                        f"({settings.min_per_class}), so that every known class keeps test spectra")
    if settings.background and not settings.background.startswith(("class:", "file:")):
        raise UserError(f"{where}: background must be \"\", \"class:NAME\" or \"file:PATH\", got {settings.background!r}")
    return settings


RECIPES = SettingsRecipes("openset", OpenSetSettings, check)
