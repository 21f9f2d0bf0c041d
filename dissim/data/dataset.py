"""The data-set record every loader returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .images import check_image_size


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

    dims: ClassVar[int] = 2  # the dimensions of a network input (images)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def check_record(data, where: str) -> None:
    """What every data-set record must hold: a name, a content fingerprint, and labels 0..C-1 (one per
    item) for C class names; UserError naming ``where``."""
    def bad(what: str):
        return UserError(f"{where}: {what}; the loader must return a dissim ImageSet or SpectraSet as "
                         "dissim.data documents them")

    if not isinstance(data.name, str) or not data.name or not isinstance(data.fingerprint, str) or not data.fingerprint:
        raise bad("the record needs a name and a fingerprint (non-empty strings)")
    labels = np.asarray(data.labels)
    if labels.ndim != 1 or not len(labels) or labels.dtype.kind not in "iu":
        raise bad(f"labels must be a non-empty 1-D array of integers, got {labels.dtype} of shape {labels.shape}")
    names = list(data.class_names)
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise bad("class_names must be distinct non-empty strings")
    if labels.min() < 0 or labels.max() >= len(names):
        raise bad(f"labels must index class_names (0..{len(names) - 1}), got {labels.min()}..{labels.max()}")


def check_image_set(data: ImageSet, where: str) -> None:
    """An ImageSet as :func:`check_record` and: folds of in-range indices with a non-empty
    test part disjoint from its training part, 1 or 3 channels, and a first item that reads as the
    documented (H, W, C) uint8 image."""
    check_record(data, where)
    n = len(data.labels)
    if not callable(data.read) or data.channels not in (1, 3):
        raise UserError(f"{where}: an ImageSet needs read(i) and channels 1 or 3, got channels {data.channels!r}")
    if not data.folds:
        raise UserError(f"{where}: the ImageSet has no folds; give a list of (train indices, test indices)")
    for k, fold in enumerate(data.folds, 1):
        try:
            train, test = (np.asarray(part) for part in fold)
        except (TypeError, ValueError):
            raise UserError(f"{where}: fold {k} must be a pair (train indices, test indices)") from None
        for part in (train, test):
            if part.ndim != 1 or (len(part) and (part.dtype.kind not in "iu" or part.min() < 0 or part.max() >= n)):
                raise UserError(f"{where}: fold {k} holds indices that are not items 0..{n - 1}")
        if not len(test) or not len(train) or np.intersect1d(train, test).size:
            raise UserError(f"{where}: fold {k} needs training and test items, and none in both")
    check_item(data.read(0), 0, data.channels, where)


def check_item(image, index: int, channels: int, where: str) -> "np.ndarray":
    """Item ``index`` as read(i) must give it: an (H, W, C) uint8 array, C = 1 or ``channels``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8 or \
            image.shape[2] not in (1, channels) or min(image.shape[:2]) < 1:
        shown = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise UserError(f"{where}: read({index}) gave {shown}; it must give an (H, W, C) uint8 image, C = 1 or "
                        f"{channels}")
    check_image_size(image.shape[0], image.shape[1], f"{index} of {where}")
    return image
