"""Arrays given to the estimators, checked and brought to a network's input.

Images: ``(n, H, W)`` grey or ``(n, H, W, C)``, uint8 (0-255), integers in 0-255, or floats in
[0, 1] (scaled by 255 and rounded to 8 bits, the images the authors' pipeline reads). They are
zero-padded to a square and resized (bicubic) to the input size, channels first: ``(n, C, S, S)``
uint8, raw 0-255 values as the authors use. Spectra: ``(n, L)`` real values, linearly resampled to
the input length when that differs: ``(n, S)`` float32.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

from ..hardware import check_memory
from .images import check_image_size
from .preprocess import preprocess_one


def check_inputs(X, *, name: str = "X") -> np.ndarray:
    """``X`` as a numeric array of images (n, H, W, C) or spectra (n, L); ValueError naming the problem."""
    array = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=True, ensure_min_features=1,
                        input_name=name)
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{name} has shape {array.shape}: give images as (n, H, W) or (n, H, W, C) with "
                         "C = 1 or 3 channels last, or spectra as (n, L)")
    check_image_size(array.shape[1], array.shape[2], f"{name} (each item)")
    return _as_uint8(array, name)


def _as_uint8(images: np.ndarray, name: str) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    low, high = images.min(), images.max()
    if np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
        if low < 0 or high > 255:
            raise ValueError(f"{name}: integer images must lie in 0-255, got {low}-{high}")
        return images.astype(np.uint8)
    if low < 0 or high > 1:
        raise ValueError(f"{name}: float images must lie in [0, 1], got {low:g}-{high:g}; divide by the "
                         "largest possible value (e.g. 255, or 16 for scikit-learn's digits)")
    return np.round(images * 255.0).astype(np.uint8)


def is_spectra(inputs: np.ndarray) -> bool:
    return inputs.ndim == 2


def natural_size(inputs: np.ndarray) -> int:
    """The side (images: the longer one) or length (spectra) of the inputs as given."""
    return inputs.shape[1] if is_spectra(inputs) else max(inputs.shape[1], inputs.shape[2])


def to_network_input(inputs: np.ndarray, size: int) -> np.ndarray:
    """Checked inputs at the network's input size: (n, C, size, size) uint8 or (n, size) float32."""
    if is_spectra(inputs):
        if inputs.shape[1] == size:
            return np.ascontiguousarray(inputs, dtype=np.float32)
        old = np.linspace(0.0, 1.0, inputs.shape[1])
        new = np.linspace(0.0, 1.0, size)
        return np.stack([np.interp(new, old, row) if len(old) > 1 else np.full(size, row[0])
                         for row in inputs]).astype(np.float32)
    if inputs.shape[1] == inputs.shape[2] == size:  # already square at this size: only channels first
        return np.ascontiguousarray(inputs.transpose(0, 3, 1, 2))
    out = np.empty((len(inputs), inputs.shape[3], size, size), dtype=np.uint8)
    for i, image in enumerate(inputs):
        out[i] = preprocess_one(image, size)
    return out


def check_labels(y, owner: str) -> np.ndarray:
    """Class labels as a 1-D array: every item labelled (no NaN, infinity or None: a missing label is
    not a class), and labels that name classes (not continuous values); ValueError otherwise."""
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = column_or_1d(y, warn=True)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y))
    elif y.dtype.kind == "O":
        bad = np.flatnonzero([v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y])
    else:
        bad = np.zeros(0, int)
    if len(bad):
        raise ValueError(f"y holds {y[bad[0]]!r} as the label of item {bad[0]} ({len(bad)} such): every item needs "
                         "a class label; drop the unlabelled items")
    check_classification_targets(y)
    return y


def check_labelled(X, y, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """(checked inputs, labels) for fitting ``owner``; ValueError when y is missing or does not match X."""
    y = check_labels(y, owner)
    inputs = check_inputs(X)
    if len(y) != len(inputs):
        raise ValueError(f"y must be 1-D with one label per item of X ({len(inputs)}), got shape {y.shape}")
    return inputs, y


class InputShape:
    """The network input a fitted estimator brings every later X to: side (or length) and channels.

    ``fit`` picks the size (``input_size``, or the larger of the inputs' size and the topology's
    minimum) and remembers the channels (and, for spectra, the length, as ``n_features``);
    calling it on checked inputs returns them at that size, refusing inputs the network cannot take.
    """

    def __init__(self, topology, input_size, owner: str):
        self.topology, self.input_size, self.owner = topology, input_size, owner

    def _check_kind(self, inputs: np.ndarray) -> None:
        spectra, topology = is_spectra(inputs), self.topology
        if spectra != (topology.dims == 1):
            raise ValueError(f"topology {topology.name} is {topology.dims}-D but X holds "
                             f"{'spectra (n, L)' if spectra else 'images'}: use a {'1' if spectra else '2'}-D topology")

    def fit(self, inputs: np.ndarray) -> "InputShape":
        self._check_kind(inputs)
        self.channels = 1 if is_spectra(inputs) else inputs.shape[-1]
        minimum = self.topology.min_input_size(self.channels)
        size = self.input_size if self.input_size is not None else max(natural_size(inputs), minimum)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < minimum:
            raise ValueError(f"input_size must be an integer >= {minimum} (the minimum of topology "
                             f"{self.topology.name}), got {self.input_size!r}; None picks it")
        self.size = int(size)
        self.n_features = inputs.shape[1] if is_spectra(inputs) else None
        side = f"{self.size}" if is_spectra(inputs) else f"{self.size}x{self.size}"
        values = len(inputs) * self.channels * self.size ** (1 if is_spectra(inputs) else 2)
        check_memory({f"{len(inputs):,} inputs at {side}": values * (4 if is_spectra(inputs) else 1)}, "cpu",
                     f"{self.owner} at input_size {self.size}")
        return self

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        self._check_kind(inputs)
        if self.n_features is not None and inputs.shape[1] != self.n_features:
            raise ValueError(f"X has {inputs.shape[1]} features, but {self.owner} is expecting {self.n_features} "
                             "features as input")
        channels = 1 if is_spectra(inputs) else inputs.shape[-1]
        if channels != self.channels:
            raise ValueError(f"X has {channels} channels, the network was trained on {self.channels}")
        return to_network_input(inputs, self.size)
