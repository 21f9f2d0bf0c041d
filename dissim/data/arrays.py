"""Arrays given to the estimators, checked and brought to a network's input.

Images: ``(n, H, W)`` grey or ``(n, H, W, C)``, uint8 (0-255), integers in 0-255, or floats in
[0, 1] (scaled by 255 and rounded to 8 bits, the images the authors' pipeline reads). They are
zero-padded to a square and resized (bicubic) to the input size, channels first: ``(n, C, S, S)``
uint8, raw 0-255 values as the authors use. Spectra: ``(n, L)`` real values, linearly resampled to
the input length when that differs: ``(n, S)`` float32.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array

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
