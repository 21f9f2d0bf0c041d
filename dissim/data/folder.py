"""Image trees on disk or in a zip: ``root/<class>/<image>`` or ``root/Fold<k>/<class>/<image>``.

Every entry of a tree is used or reported: image files are used; hidden entries (``.DS_Store``,
``__MACOSX``) and files that are not images are skipped and counted in the data set's notes; a
folder that cannot be read, a link whose target is missing, a link that loops back to a folder
above it, a name that is not UTF-8, and zip members that are encrypted, compressed by a method
Python cannot read, or named outside the archive (absolute, ``..``) are errors. Linked folders and
files are followed. Fold folders are numbered ``Fold1`` .. ``Fold<n>`` without gaps (``Fold01`` is
fold 1; ``Fold01`` beside ``Fold1`` is an error). Image files themselves are checked by
:mod:`dissim.data.images`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import UserError
from .dataset import ImageSet
from .images import IMAGE_SUFFIXES, Intensity, check_file_size, decode_image, survey
from .splits import stratified_folds

_FOLD_DIR = re.compile(r"^fold[ _-]?(\d+)$", re.IGNORECASE)
LAYOUT_HELP = "expected root/<class>/<image> or root/Fold<k>/<class>/<image>"
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
               zipfile.ZIP_LZMA: "lzma"}


class FileTree:
    """The image files under a directory or inside a zip archive, as relative POSIX paths; ``skipped``
    counts the entries that are not used (hidden ones, other files) with an example of each."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.is_zip = self.root.is_file()
        self._local = threading.local()
        self.skipped: dict[str, list[str]] = {"hidden": [], "other": []}
        if self.is_zip:
            try:
                with zipfile.ZipFile(self.root) as archive:
                    infos = archive.infolist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise UserError(f"cannot read {self.root} as a zip archive ({exc}): give the zip or its unpacked folder") from None
            self._info = {}
            for info in infos:
                posix = info.filename.replace("\\", "/")
                if posix.startswith("/") or ".." in PurePosixPath(posix).parts:
                    raise UserError(f"{self.describe(info.filename)}: the member's name points outside the archive "
                                    "(an absolute path or '..'); dissim reads no such archive: remove the member")
                if not info.is_dir() and self._keep(info.filename):
                    self._check_member(info)
                    self._info[info.filename] = info
            self.files = sorted(self._info)
        else:
            self.files = sorted(self._walk())

    def _keep(self, name: str) -> bool:
        """Whether ``name`` is an image to use; the others are counted in ``skipped``."""
        parts = PurePosixPath(name).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in parts):
            self.skipped["hidden"].append(name)  # .DS_Store, AppleDouble files and other hidden entries
            return False
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            self.skipped["other"].append(name)
            return False
        return True

    def _check_member(self, info: zipfile.ZipInfo) -> None:
        where = self.describe(info.filename)
        if info.flag_bits & 0x1:
            raise UserError(f"{where} is encrypted: dissim reads no password-protected zip members; unzip the "
                            "archive (with its password) and pass the folder")
        if info.compress_type not in ZIP_METHODS:
            method = zipfile.compressor_names.get(info.compress_type, f"method {info.compress_type}")
            raise UserError(f"{where} is compressed with {method}, which Python's zipfile cannot read (it reads "
                            f"{', '.join(ZIP_METHODS.values())}): unzip it with another tool and pass the folder")
        check_file_size(info.file_size, where)

    def _walk(self):
        """Relative paths of the image files below the root, links followed, every problem an error."""
        def refuse(error: OSError):
            raise UserError(f"cannot read folder {error.filename} ({error.strerror}): fix its permissions or move "
                            "it out of the data folder") from None

        seen: dict[tuple[int, int], Path] = {}  # folders by identity: a link must not reach one twice
        for folder, dirs, files in os.walk(self.root, onerror=refuse, followlinks=True):
            here = Path(folder)
            relative = here.relative_to(self.root)
            _check_utf8(relative, here, self.root)
            stat = here.stat()
            first = seen.setdefault((stat.st_dev, stat.st_ino), here)
            if first != here:
                if first in here.parents:
                    raise UserError(f"{here} is a link back to {first}, a folder above it (a loop): remove the link")
                raise UserError(f"{here} and {first} are the same folder (one links to the other): each image "
                                "belongs to one class and fold; remove the link")
            kept = []
            for name in sorted(dirs):
                if name.startswith(".") or name == "__MACOSX":
                    self.skipped["hidden"].append((relative / name).as_posix())
                else:
                    kept.append(name)
            dirs[:] = kept
            for name in files:
                path = here / name
                rel = (relative / name).as_posix()
                if not self._keep(rel):
                    continue
                _check_utf8(relative / name, path, self.root)
                if not path.exists():
                    raise UserError(f"{path} is a link to {os.readlink(path)}, which does not exist: restore the "
                                    "target or remove the link")
                if not path.is_file():
                    raise UserError(f"{path} is not a regular file: remove it from the data folder")
                check_file_size(path.stat().st_size, str(path))
                yield rel

    def notes(self) -> list[str]:
        """One line saying what was skipped, or none."""
        parts = [f"{len(names)} {kind} {'entry' if len(names) == 1 else 'entries'} (e.g. {names[0]})"
                 for kind, names in (("hidden", self.skipped["hidden"]),
                                     ("non-image", self.skipped["other"])) if names]
        return [f"skipped under {self.root}: " + ", ".join(parts)] if parts else []

    def read_bytes(self, name: str) -> bytes:
        try:
            with self._open(name) as handle:
                return handle.read()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
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

    def survey(self) -> tuple[int, Intensity]:
        """(channels, intensity rule): every image header read and checked
        (:func:`dissim.data.images.survey`)."""
        return survey((self.describe(name), lambda name=name: self._open(name), lambda name=name: self.read_bytes(name))
                      for name in self.files)

    def _open(self, name: str):
        if not self.is_zip:
            return open(self.root / name, "rb")
        archive = getattr(self._local, "archive", None)
        if archive is None:  # one open archive per thread: ZipFile readers are not shareable
            archive = self._local.archive = zipfile.ZipFile(self.root)
        return archive.open(name)

    def describe(self, name: str) -> str:
        return f"{self.root}:{name}" if self.is_zip else str(self.root / name)


def _check_utf8(relative: Path, path: Path, root: Path) -> None:
    """The names below the root become class and item names: they must be UTF-8."""
    try:
        str(relative).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"the name {os.fsencode(path)!r} under {root} is not valid UTF-8: rename it "
                        "(dissim writes class names and file names into UTF-8 tables)") from None


def _fold_numbers(names: set[str], root: Path, help_text: str) -> dict[str, int]:
    """Fold folder name -> fold number; the numbers must be 1..n, each named once."""
    numbers: dict[int, str] = {}
    for name in sorted(names):
        k = int(_FOLD_DIR.match(name).group(1))
        if k in numbers:
            raise UserError(f"{root}: {numbers[k]} and {name} both name fold {k}: merge or rename one of them")
        numbers[k] = name
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        found = ", ".join(numbers[k] for k in sorted(numbers))
        raise UserError(f"{root}: Fold folders must be numbered 1 to {len(numbers)} without gaps, found {found}: "
                        f"rename them Fold1..Fold{len(numbers)} ({help_text})")
    return {name: k for k, name in numbers.items()}


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
        number_of = _fold_numbers({p[0] for p in rel}, root, help_text)
        fold_ids = np.array([number_of[p[0]] for p in rel])
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
    channels, intensity = tree.survey()
    fingerprint = tree.fingerprint()
    notes = tree.notes()
    if intensity:  # the rule enters the content key; 8-bit sets keep theirs unchanged
        fingerprint = hashlib.blake2b(f"{fingerprint}:{intensity}".encode(), digest_size=20).hexdigest()
        notes.append(f"intensities: {intensity.describe()}")

    def read(i: int) -> np.ndarray:
        return decode_image(tree.read_bytes(tree.files[i]), tree.describe(tree.files[i]), intensity)

    return ImageSet(name=name, read=read, labels=labels, class_names=class_names, folds=folds,
                    fingerprint=fingerprint, channels=channels, item_names=tree.files,
                    protocol=protocol, notes=tuple(notes))
