"""Image trees on disk or in a zip: ``root/<class>/<image>`` or ``root/Fold<k>/<class>/<image>``."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UserError
from .dataset import ImageSet
from .splits import stratified_folds

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".webp"}
_FOLD_DIR = re.compile(r"^fold[ _-]?(\d+)$", re.IGNORECASE)
UNREADABLE = (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError)
GREY_MODES = {"L", "1", "LA", "F", "I", "I;16", "I;16B", "I;16L"}
LAYOUT_HELP = "expected root/<class>/<image> or root/Fold<k>/<class>/<image>"


class FileTree:
    """The image files under a directory or inside a zip archive, as relative POSIX paths."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.is_zip = self.root.is_file()
        self._local = threading.local()
        if self.is_zip:
            try:
                with zipfile.ZipFile(self.root) as archive:
                    infos = archive.infolist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise UserError(f"cannot read {self.root} as a zip archive ({exc}): give the zip or its unpacked folder") from None
            self._info = {i.filename: i for i in infos if not i.is_dir() and _is_image(i.filename)}
            self.files = sorted(self._info)
        else:
            relative = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
            self.files = sorted(name for name in relative if _is_image(name))  # hidden parts below the root only

    def read_bytes(self, name: str) -> bytes:
        try:
            with self._open(name) as handle:
                return handle.read()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as exc:
            raise UserError(f"cannot read {self.describe(name)} ({exc}): fix or remove the file") from None

    def fingerprint(self) -> str:
        """A digest of the files' names and contents (CRC-32 from a zip's directory)."""
        digest = hashlib.blake2b(digest_size=20)
        for name in self.files:
            digest.update(name.encode())
            if self.is_zip:
                info = self._info[name]
                digest.update(f"{info.CRC}:{info.file_size}".encode())
            else:
                digest.update(hashlib.blake2b(self.read_bytes(name), digest_size=20).digest())
        return digest.hexdigest()

    def channels(self) -> int:
        """1 if every image is grey, else 3; reads only the image headers."""
        for name in self.files:
            try:  # the header only: Pillow reads no further than it needs for the mode
                with self._open(name) as handle, Image.open(handle) as img:
                    mode = img.mode
                    grey = mode in GREY_MODES or (mode == "P" and _palette_is_grey(img))
            except (*UNREADABLE, zipfile.BadZipFile, zlib.error) as exc:
                raise UserError(f"cannot read image {self.describe(name)} ({_reason(exc)}): fix or remove the file") from None
            if not grey:
                return 3
        return 1

    def _open(self, name: str):
        if not self.is_zip:
            return open(self.root / name, "rb")
        archive = getattr(self._local, "archive", None)
        if archive is None:  # one open archive per thread: ZipFile readers are not shareable
            archive = self._local.archive = zipfile.ZipFile(self.root)
        return archive.open(name)

    def describe(self, name: str) -> str:
        return f"{self.root}:{name}" if self.is_zip else str(self.root / name)


def _is_image(path: str) -> bool:
    parts = PurePosixPath(path).parts
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return False  # .DS_Store, AppleDouble files and other hidden entries
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode image bytes into an (H, W, C) uint8 array, C = 1 (grey) or 3 (colour)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.float64)
                array = np.clip(np.round(array / 257.0), 0, 255).astype(np.uint8)[:, :, None]
            elif img.mode in GREY_MODES or (img.mode == "P" and _palette_is_grey(img)):
                array = np.asarray(img.convert("L"))[:, :, None]
            else:
                array = np.asarray(img.convert("RGB"))
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


def load_image_tree(root: Path, name: str, seed: int, n_splits: int = 5,
                    expected_classes: list[str] | None = None, expected_folds: int | None = None,
                    help_text: str = LAYOUT_HELP) -> ImageSet:
    """Load an image tree; its Fold<k> folders, when present, are the test folds.

    Without Fold folders the protocol is a stratified ``n_splits``-fold split seeded by ``seed``.
    """
    tree = FileTree(root)
    if not tree.files:
        raise UserError(f"no images found under {root}: {help_text}")
    parts = [PurePosixPath(f).parts for f in tree.files]
    # Drop wrapper folders every file shares (e.g. FRAMES/ inside FRAMES.zip).
    common = 0
    while (len({p[common] for p in parts}) == 1 and not _FOLD_DIR.match(parts[0][common])
           and all(len(p) - common > 2 for p in parts)):
        common += 1
    rel = [p[common:] for p in parts]
    depths = {len(p) for p in rel}
    fold_layout = depths == {3} and all(_FOLD_DIR.match(p[0]) for p in rel)
    if not fold_layout and depths != {2}:
        example = "/".join(rel[0])
        raise UserError(f"unexpected layout under {root} (e.g. {example}): {help_text}")
    class_of = [p[1] if fold_layout else p[0] for p in rel]
    class_names = sorted(set(class_of))
    if expected_classes is not None and set(class_names) != set(expected_classes):
        raise UserError(f"{root} has classes {class_names}, expected {sorted(expected_classes)}: {help_text}")
    labels = np.array([class_names.index(c) for c in class_of], dtype=np.int64)
    if fold_layout:
        fold_ids = np.array([int(_FOLD_DIR.match(p[0]).group(1)) for p in rel])
        numbers = sorted(set(fold_ids))
        if expected_folds is not None and len(numbers) != expected_folds:
            raise UserError(f"{root} has {len(numbers)} Fold folders, expected {expected_folds}: {help_text}")
        folds = [(np.flatnonzero(fold_ids != k), np.flatnonzero(fold_ids == k)) for k in numbers]
        protocol = f"the {len(numbers)} Fold folders are the test folds"
    else:
        if expected_folds is not None:
            raise UserError(f"{root} has no Fold<k> folders, expected {expected_folds}: {help_text}")
        folds = stratified_folds(labels, n_splits, seed, where=str(root), class_names=class_names)
        protocol = f"stratified {n_splits}-fold cross-validation (seed {seed})"

    def read(i: int) -> np.ndarray:
        return decode_image(tree.read_bytes(tree.files[i]), tree.describe(tree.files[i]))

    return ImageSet(name=name, read=read, labels=labels, class_names=class_names, folds=folds,
                    fingerprint=tree.fingerprint(), channels=tree.channels(), item_names=tree.files,
                    protocol=protocol)
