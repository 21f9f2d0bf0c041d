"""Image files: which ones dissim reads, how their intensities become 8 bits, and the size limits,
checked in one place before any work.

- 8-bit images (grey, palette, RGB, RGBA, CMYK, ...) are read as they are (alpha is dropped).
- 16-bit, 32-bit integer and floating-point images (TIFFs from microscopes, 16-bit PNGs) keep their
  full intensity range, with one rule for the whole data set, so that a value means the same in
  every image: integers are divided by 2^b - 1 and multiplied by 255, where b is the number of bits
  the set's largest integer value needs (at least 8: a 12-bit camera's 0-4095 becomes 0-255, data
  that fills 16 bits is divided by 257, 32-bit integers holding 0-255 stay 0-255); floats in [0, 1]
  are multiplied by 255, and floats beyond 1 follow the integer rule. Negative, NaN or infinite
  values are refused with the file's name.
- Limits: a file of at most :data:`MAX_FILE_BYTES`; the square an image is zero-padded to
  (longer side squared) at most :data:`MAX_PIXELS` pixels, Pillow's decompression-bomb bound, so a
  tiny file that claims 1 x 100000 pixels is refused before anything is allocated.
- The first frame of a multi-frame file (a TIFF stack, an animated GIF) is the image.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".webp"}
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # 89,478,485
MAX_FILE_BYTES = 1 << 30
HIGH_DEPTH_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I", "F"}
GREY_MODES = {"L", "1", "LA", "La"} | HIGH_DEPTH_MODES
UNREADABLE = (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError,
              zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class Intensity:
    """How a data set's 16/32-bit integer and float images become 8 bits: ``value * 255 / full``
    (None: the set has no such images)."""

    integer_full: float | None = None
    float_full: float | None = None

    def __bool__(self) -> bool:
        return self.integer_full is not None or self.float_full is not None

    def describe(self) -> str:
        parts = [f"{kind} images scaled by 255/{full:g}" for kind, full in
                 (("16/32-bit integer", self.integer_full), ("float", self.float_full)) if full is not None]
        return "; ".join(parts)


def check_image_size(height: int, width: int, where: str) -> None:
    """UserError unless an image of ``height`` x ``width`` can be zero-padded to a square within the limit."""
    side = max(height, width)
    if min(height, width) < 1:
        raise UserError(f"image {where} is {width}x{height} pixels: it holds no pixels; remove it")
    if side * side > MAX_PIXELS:
        raise UserError(f"image {where} is {width}x{height} pixels: its square padding ({side}x{side} = "
                        f"{side * side:,} pixels) is over the limit of {MAX_PIXELS:,} pixels; crop or shrink it")


def check_file_size(size: int, where: str) -> None:
    if size > MAX_FILE_BYTES:
        raise UserError(f"{where} is {size / 2**30:.1f} GiB, over the limit of {MAX_FILE_BYTES / 2**30:.0f} GiB "
                        "for one image file; shrink or remove it")


@dataclass(frozen=True)
class Header:
    """What an image file's header says: its mode, size and whether it is grey."""

    mode: str
    width: int
    height: int
    grey: bool

    @property
    def high_depth(self) -> bool:
        return self.mode in HIGH_DEPTH_MODES


def read_header(open_file: Callable[[], object], where: str) -> Header:
    """The header of one image file (Pillow reads no further than it needs), size checked."""
    try:
        with open_file() as handle, Image.open(handle) as img:
            header = Header(img.mode, img.width, img.height,
                            img.mode in GREY_MODES or (img.mode in ("P", "PA") and _palette_is_grey(img)))
    except UserError:
        raise
    except UNREADABLE as exc:
        raise UserError(f"cannot read image {where} ({_reason(exc)}): fix or remove the file") from None
    check_image_size(header.height, header.width, where)
    return header


def survey(files: Iterable[tuple[str, Callable[[], object], Callable[[], bytes]]]) -> tuple[int, Intensity]:
    """(channels, intensity rule) of a set of image files,
    each given as (where, open it, read its bytes): every header is read and checked; the 16/32-bit
    and float images are decoded once for their largest value. Channels: 1 if every image is grey, else 3."""
    grey, integer_max, float_max = True, None, None
    for where, open_file, read_bytes in files:
        header = read_header(open_file, where)
        grey = grey and header.grey
        if header.high_depth:
            values = _high_depth_values(read_bytes(), where)
            largest = float(values.max()) if values.size else 0.0
            if header.mode == "F":
                float_max = max(float_max or 0.0, largest)
            else:
                integer_max = max(integer_max or 0.0, largest)
    intensity = Intensity(integer_full=None if integer_max is None else _bits_full(integer_max),
                          float_full=None if float_max is None else 1.0 if float_max <= 1.0 else _bits_full(float_max))
    return (1 if grey else 3), intensity


def survey_one(img: Image.Image, where: str) -> float:
    """The ``full`` of :class:`Intensity` for one loaded 16/32-bit or float image by itself."""
    values = _values(img, where)
    largest = float(values.max()) if values.size else 0.0
    return 1.0 if img.mode == "F" and largest <= 1.0 else _bits_full(largest)


def _bits_full(largest: float) -> float:
    """2^b - 1 for the bits b (at least 8) that ``largest`` needs."""
    return float(2 ** max(8, int(math.ceil(largest)).bit_length()) - 1)


def _high_depth_values(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _values(img, where)
    except UserError:
        raise
    except UNREADABLE as exc:
        raise UserError(f"cannot read image {where} ({_reason(exc)}): fix or remove the file") from None


def _values(img: Image.Image, where: str) -> np.ndarray:
    """The values of a (loaded) 16/32-bit or float image as float64, checked finite and non-negative."""
    values, mode = np.asarray(img, dtype=np.float64), img.mode
    if not np.isfinite(values).all():
        raise UserError(f"image {where} (mode {mode}) holds NaN or infinite values: dissim reads finite intensities; "
                        "replace them")
    if values.size and values.min() < 0:
        raise UserError(f"image {where} (mode {mode}) holds negative values (down to {values.min():g}): dissim reads "
                        "intensities from 0 up; shift or rescale the image")
    return values


def decode_image(data: bytes, where: str, intensity: Intensity = Intensity()) -> np.ndarray:
    """Decode image bytes into an (H, W, C) uint8 array, C = 1 (grey) or 3 (colour); 16/32-bit and
    float images are brought to 0-255 by ``intensity`` (the data set's rule, see :func:`survey`)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            check_image_size(img.height, img.width, where)
            if img.mode in HIGH_DEPTH_MODES:
                full = intensity.float_full if img.mode == "F" else intensity.integer_full
                if full is None:  # an image decoded on its own: its own range by the same rule
                    full = survey_one(img, where)
                values = _values(img, where)
                array = np.clip(np.round(values * (255.0 / full)), 0, 255).astype(np.uint8)[:, :, None]
            elif img.mode in GREY_MODES or (img.mode in ("P", "PA") and _palette_is_grey(img)):
                array = np.asarray(img.convert("L"))[:, :, None]
            else:
                array = np.asarray(img.convert("RGB"))
    except UserError:
        raise
    except UNREADABLE as exc:
        raise UserError(f"cannot read image {where} ({_reason(exc)}): fix or remove the file") from None
    return np.ascontiguousarray(array)


def _reason(exc: Exception) -> str:
    """Why Pillow refused a file, without the repr of the in-memory stream it was given."""
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow can read"
    if isinstance(exc, Image.DecompressionBombError):
        return "its header claims more pixels than Pillow's decompression-bomb limit"
    return f"{type(exc).__name__}: {exc}"


def _palette_is_grey(img: Image.Image) -> bool:
    palette = np.asarray(img.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    return bool(len(palette)) and bool(np.all(palette == palette[:, :1]))
