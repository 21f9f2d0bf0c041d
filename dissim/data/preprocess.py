"""Preprocessing as the authors' code does it, with an on-disk cache.

Each image is zero-padded to a square (``squarepad.m``: the longer half of the padding before,
the shorter after), resized bicubically to the topology's input size (MATLAB ``imresize``
antialiases when shrinking; so does Pillow), and kept in its native channels (grey stays one
channel). Values stay raw 0-255: the authors apply no normalisation. The result is an
(N, C, S, S) uint8 array cached under ``cache_root()/preprocessed`` keyed by the data set's content
fingerprint and these settings.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from PIL import Image

from ..hardware import check_memory
from .dataset import check_item
from ..storage import cache_root, load_cached_array, save_cached_array, stable_hash

PREPROCESS_VERSION = 1  # bump when the preprocessing changes, to invalidate caches


def square_pad(image: np.ndarray) -> np.ndarray:
    """Zero-pad an (H, W, C) image to a square, ceil(diff/2) before and floor(diff/2) after."""
    h, w = image.shape[:2]
    diff = abs(h - w)
    before, after = (diff + 1) // 2, diff // 2
    pad = [(before, after), (0, 0)] if h < w else [(0, 0), (before, after)]
    return np.pad(image, pad + [(0, 0)], mode="constant")


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of an (H, W, C) uint8 image to (size, size, C)."""
    if image.shape[0] == image.shape[1] == size:
        return image
    channels = [np.asarray(Image.fromarray(image[:, :, c]).resize((size, size), Image.BICUBIC))
                for c in range(image.shape[2])]
    return np.stack(channels, axis=2)


def preprocess_one(image: np.ndarray, size: int, hasc: bool = False) -> np.ndarray:
    """One (H, W, C) uint8 image -> (C, size, size) uint8 (as HASC mosaics with ``hasc``)."""
    out = resize(square_pad(image), size)
    if hasc:
        out = np.stack([hasc_mosaic(out[:, :, c]) for c in range(out.shape[2])], axis=2)
    return out.transpose(2, 0, 1)


# -- HASC low-level maps (San Biagio et al., ICCV 2013; the authors' GetFeatures, notes §8) ----------
HASC_BORDER = 2


def _correlate_x(a: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(a, [-1 0 1]) with zero boundary: a(i, j+1) - a(i, j-1)."""
    padded = np.pad(a, ((0, 0), (1, 1)))
    return padded[:, 2:] - padded[:, :-2]


def _correlate_y(a: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(a, [1; 0; -1]) with zero boundary: a(i-1, j) - a(i+1, j)."""
    padded = np.pad(a, ((1, 1), (0, 0)))
    return padded[:-2, :] - padded[2:, :]


def hasc_maps(channel: np.ndarray) -> np.ndarray:
    """The six low-level maps of one (H, W) channel, uncropped, float64: intensity, Ix, Iy, Ixx, Iyy,
    and the gradient magnitude sqrt(Ix^2 + Iy^2)."""
    intensity = np.asarray(channel, dtype=np.float64)
    ix, iy = _correlate_x(intensity), _correlate_y(intensity)
    return np.stack([intensity, ix, iy, _correlate_x(ix), _correlate_y(iy), np.hypot(ix, iy)])


# Fixed affine maps of each map's value range onto 0-255 (the same for every image, so that values
# keep their meaning): intensity 0..255, first derivatives -255..255, second -510..510, magnitude 0..255*sqrt(2).
_HASC_RANGES = ((0.0, 255.0), (-255.0, 255.0), (-255.0, 255.0), (-510.0, 510.0), (-510.0, 510.0),
                (0.0, 255.0 * np.sqrt(2.0)))


def hasc_mosaic(channel: np.ndarray) -> np.ndarray:
    """One (S, S) uint8 channel as the authors' HASC input: the six maps cropped by a 2-pixel border,
    each scaled to 0-255 by its fixed range, tiled [f1 f2; f3 f4; f5 f6] (3(S-4) x 2(S-4)) and
    resized bicubically back to S x S."""
    size = channel.shape[0]
    if min(channel.shape) <= 2 * HASC_BORDER:
        raise ValueError(f"HASC needs images larger than {2 * HASC_BORDER} pixels a side, got {channel.shape}")
    b = HASC_BORDER
    maps = hasc_maps(channel)[:, b:-b, b:-b]
    scaled = [np.clip(np.round((m - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)
              for m, (lo, hi) in zip(maps, _HASC_RANGES)]
    mosaic = np.block([[scaled[0], scaled[1]], [scaled[2], scaled[3]], [scaled[4], scaled[5]]])
    return np.asarray(Image.fromarray(mosaic).resize((channel.shape[1], size), Image.BICUBIC))


def cache_path(dataset, size: int, hasc: bool = False):
    """Where the preprocessed array of ``dataset`` at ``size`` is cached."""
    settings = {"data": dataset.fingerprint, "size": size, "version": PREPROCESS_VERSION}
    if hasc:
        settings["hasc"] = True
    key = stable_hash(settings)
    return cache_root() / "preprocessed" / f"{dataset.name.lower()}-{size}{'-hasc' if hasc else ''}-{key[:20]}.npy"


def check_preprocess_fits(dataset, size: int) -> None:
    """UserError with the numbers when the preprocessed array of ``dataset`` at ``size`` (built in
    memory, where the preprocessed images also sit once more before they are copied in) cannot fit."""
    array = len(dataset) * dataset.channels * size * size
    check_memory({f"{len(dataset):,} images at {size}x{size}": 2 * array}, "cpu",
                 f"preprocessing {dataset.name} at {size}x{size}")


def preprocess_to_cache(dataset, size: int, hasc: bool = False):
    """Make sure the preprocessed array is cached (without reading it when it is); returns its path."""
    path = cache_path(dataset, size, hasc)
    if _cached(dataset, size, path, mmap_mode="r") is None:
        preprocess(dataset, size, hasc=hasc)
    return path


def _cached(dataset, size: int, path, mmap_mode=None) -> np.ndarray | None:
    """The cached array if it is there, whole (:func:`load_cached_array`) and of the data set's shape
    and type at this size, else None."""
    cached = load_cached_array(path, mmap_mode=mmap_mode)
    if cached is not None and cached.shape == (len(dataset), dataset.channels, size, size) and cached.dtype == np.uint8:
        return cached
    return None


def preprocess(dataset, size: int, n_jobs: int = -1, use_cache: bool = True, hasc: bool = False) -> np.ndarray:
    """All images of ``dataset`` as an (N, C, size, size) uint8 array, cached on disk.

    Grey images in a set that also holds colour images are replicated to three channels.
    """
    path = cache_path(dataset, size, hasc)
    cached = _cached(dataset, size, path) if use_cache else None
    if cached is not None:
        return cached
    # Threads: decoding and resizing release the GIL in Pillow and numpy.
    images = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(lambda i: preprocess_one(check_item(dataset.read(i), i, dataset.channels, dataset.name), size, hasc))(i)
        for i in range(len(dataset)))
    out = np.empty((len(images), dataset.channels, size, size), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = im  # broadcasting replicates a grey image over three channels
    if use_cache:
        save_cached_array(path, out)
    return out
