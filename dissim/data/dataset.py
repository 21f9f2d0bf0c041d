"""The data-set record every loader returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """Images with labels, class names and the protocol's folds.

    ``read(i)`` returns image ``i`` as an (H, W, C) uint8 array in its native channels;
    ``folds`` is a list of (train indices, test indices); ``fingerprint`` identifies the content
    (used to key caches); ``channels`` is the native channel count: 1 if every image is grey,
else 3 (grey images are then replicated).
    """

    name: str
    read: Callable[[int], np.ndarray]
    labels: np.ndarray
    class_names: list[str]
    folds: list[tuple[np.ndarray, np.ndarray]]
    fingerprint: str
    channels: int
    item_names: Sequence[str] = field(default_factory=list)
    protocol: str = ""
    notes: tuple[str, ...] = ()  # what the loader skipped or decided (logged and kept in config.json)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)
