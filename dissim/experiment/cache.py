"""The result cache: one file per task (a training unit on a fold, a matcher on a partition, ...), keyed
by everything that determines it.

Entries are ``.npz`` archives written atomically (temporary file, then rename), so an
interrupted run leaves either a complete entry or none. Each entry records its own key and the
list of arrays it must hold; an entry that fails to load or does not match is treated as absent
(and recomputed), never read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..storage import atomic_write

_MANIFEST = "__manifest__"


class ResultCache:
    """Maps a key (hex digest) to a dict of arrays, stored under ``root``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        entry = self.load_entry(key)
        return None if entry is None else entry[0]

    def load_entry(self, key: str) -> tuple[dict[str, np.ndarray], float | None] | None:
        """(the arrays, the seconds their computation took, or None where the entry does not say), or
        None when the entry is absent or not whole."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                manifest = json.loads(str(archive[_MANIFEST]))
                if manifest.get("key") != key or set(manifest["arrays"]) != set(archive.files) - {_MANIFEST}:
                    return None
                arrays = {name: archive[name] for name in manifest["arrays"]}
            if manifest.get("digest") != _digest(arrays):
                return None
            seconds = manifest.get("seconds")
            return arrays, float(seconds) if isinstance(seconds, (int, float)) else None
        except Exception:  # damaged in any way (zip, npy header, manifest, digest): absent, recomputed
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray], seconds: float | None = None) -> Path:
        """Store ``arrays`` under ``key`` with the ``seconds`` computing them took (kept for accounts)."""
        manifest = np.array(json.dumps({"key": key, "arrays": sorted(arrays), "digest": _digest(arrays),
                                        **({} if seconds is None else {"seconds": round(float(seconds), 3)})}))

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays, **{_MANIFEST: manifest})

        return atomic_write(self.path(key), write)

    def __contains__(self, key: str) -> bool:
        return self.load(key) is not None


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """A digest of every array's name, dtype, shape and bytes: an entry changed in place does not match."""
    digest = hashlib.blake2b(digest_size=20)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
