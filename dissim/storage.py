"""Where caches live, stable content hashes, and atomic file writes."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from .errors import UserError


def cache_root() -> Path:
    """Root of dissim's caches: $DISSIM_CACHE, else $XDG_CACHE_HOME/dissim, else ~/.cache/dissim."""
    if os.environ.get("DISSIM_CACHE"):
        return Path(os.environ["DISSIM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dissim"


def check_cache_writable() -> Path:
    """The cache root, created if needed and proven writable; UserError naming DISSIM_CACHE otherwise."""
    flag = "DISSIM_CACHE" if os.environ.get("DISSIM_CACHE") else "the cache folder (set DISSIM_CACHE to move it)"
    return check_writable_folder(cache_root(), flag)


def stable_hash(payload) -> str:
    """SHA-256 hex digest of a JSON-serialisable payload (keys sorted, so order-independent)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """BLAKE2b digest of a file's content (remembered per path, size and modification time)."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=20)).hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file: either the old content or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results should read like any file
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def save_cached_array(path: Path, array) -> Path:
    """Write ``array`` as ``.npy`` atomically, with its content digest beside it (``load_cached_array``)."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.save would append ".npy" to the temporary name
            np.save(handle, array, allow_pickle=False)

    atomic_write(path, write)
    atomic_write(_digest_path(path), lambda tmp: tmp.write_text(content_digest(path)))
    return Path(path)


def load_cached_array(path: Path, mmap_mode: str | None = None):
    """The array saved by :func:`save_cached_array` if it is there and whole, else None.

    Whole means its content digest matches the one written beside it, so a file corrupted in place
    (same size) is caught; a damaged file in any way reads as missing, to be computed again.
    """
    import numpy as np

    path, digest = Path(path), _digest_path(path)
    if not path.is_file() or not digest.is_file():
        return None
    try:
        if digest.read_text().strip() != content_digest(path):
            return None
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except Exception:  # noqa: BLE001 (a file damaged in any way reads as missing)
        return None


def _digest_path(path: Path) -> Path:
    return Path(path).with_suffix(".blake2b")


def content_digest(path: Path) -> str:
    """BLAKE2b digest of a file's content, read afresh."""
    with open(path, "rb") as handle:  # read afresh: a file rewritten in place keeps no stale digest
        return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=20)).hexdigest()


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_folder(folder: Path, flag: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; UserError naming ``flag`` otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{flag} {folder}: cannot write there ({exc.strerror or exc}); give a writable folder") from None
    return folder
