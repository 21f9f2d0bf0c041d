"""A run's results folder: where it is by default, whose results it holds, and which files are the
run's own.

Every run records in ``manifest.json`` which run it is (data set and its content fingerprint,
recipe and a digest of the resolved recipe, seed, dissim version) and every file it wrote with its
content digest. A later run into the folder

- goes ahead when the folder holds nothing of dissim's, or the same run's results (a resumed or
  repeated run);
- stops before any work, exit status 2 and one line, when the folder holds another run's results
  (another data set, recipe, seed or code version; a folder without a manifest is judged by its
  ``config.json``), unless told to overwrite (``--overwrite``);
- removes only files the manifest lists that it no longer writes, and only while their content is
  what was written: files anyone else put there are never touched.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from pathlib import Path

from ..errors import UserError
from ..storage import atomic_write_text, content_digest, stable_hash

MANIFEST = "manifest.json"
RESULT_NAMES = ("table.md", "table.csv", "config.json")  # files that mark a folder as a run's results


def default_out(dataset_name: str, data_root: str | None, recipe_name: str) -> Path:
    """``results/<data set>/<recipe>``; for the ``folder`` data set ``results/folder-<root name>-<8 hex
    digits of the root's absolute path>/<recipe>``, so that two image folders never share results."""
    if dataset_name != "folder" or data_root is None:
        return Path("results") / dataset_name / recipe_name
    root = Path(data_root).expanduser().resolve()
    stem = root.name.removesuffix(".zip") or "root"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "root"
    return Path("results") / f"folder-{stem}-{stable_hash(str(root))[:8]}" / recipe_name


def run_identity(dataset: dict, recipe: dict, seed: int, version: str) -> dict:
    """What makes two runs' results the same results: the data (name and content fingerprint), the
    resolved recipe (name and digest of its settings; where its file lies does not count), the seed
    and dissim's version."""
    settings = {key: value for key, value in recipe.items() if key != "source"}
    return {"dataset": dataset.get("name"), "fingerprint": dataset.get("fingerprint"), "recipe": recipe.get("name"),
            "recipe_digest": stable_hash(json.loads(json.dumps(settings, default=str))), "seed": seed,
            "dissim": version}


def _describe(identity: dict) -> str:
    return (f"{identity.get('dataset')} (data {str(identity.get('fingerprint'))[:8]}), recipe {identity.get('recipe')} "
            f"({str(identity.get('recipe_digest'))[:8]}), seed {identity.get('seed')}, dissim {identity.get('dissim')}")


class ResultsFolder:
    """The results folder of one run (``identity``: :func:`run_identity`)."""

    def __init__(self, path: Path, identity: dict):
        self.path = Path(path)
        self.identity = identity
        self.previous = self._read_manifest()
        self.written: dict[str, str] = {}

    def _read_manifest(self) -> dict | None:
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
            return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None
        except (OSError, ValueError):
            return None

    def holder(self) -> dict | None:
        """The identity of the run whose results the folder holds: its manifest's, else one derived from
        its config.json; ``{}`` for results of unknown origin; None when it holds no results."""
        if self.previous is not None:
            return self.previous.get("run") or {}
        if not any((self.path / name).exists() for name in RESULT_NAMES):
            return None
        try:
            config = json.loads((self.path / "config.json").read_text())
            return run_identity(config["dataset"], config["recipe"], config["seed"], config["dissim"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def check(self, overwrite: bool) -> None:
        """Before any work: a UserError (one line) when the folder holds another run's results and
        ``overwrite`` is false."""
        holder = self.holder()
        if holder is None or holder == self.identity or overwrite:
            return
        whose = f"the results of {_describe(holder)}" if holder else "results that no dissim run recorded"
        raise UserError(f"--out {self.path} holds {whose}, not of {_describe(self.identity)}: choose another --out, "
                        "or pass --overwrite to replace them")

    def own(self, relative: str) -> bool:
        """Whether ``relative`` is a file the folder's manifest lists as a dissim run's own."""
        return self.previous is not None and relative in self.previous["files"]

    def claim(self) -> None:
        """Before the first file is written: a manifest naming this run (and still listing the files of
        the previous one, so that a run stopped half-way still finds them to clean up)."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / MANIFEST, json.dumps(
            {"run": self.identity, "files": (self.previous or {}).get("files", {})}, indent=1) + "\n")

    def record(self, path: Path) -> None:
        """Note a file this run wrote (inside the folder)."""
        path = Path(path)
        self.written[path.relative_to(self.path).as_posix()] = content_digest(path)

    def finish(self) -> list[str]:
        """Remove the files the previous manifest lists that this run did not write again (those still
        as they were written), then write this run's manifest; returns the removed paths."""
        removed = []
        for relative, digest in (self.previous or {}).get("files", {}).items():
            path = self.path / relative
            if relative in self.written or relative == MANIFEST or not _inside(path, self.path):
                continue
            with suppress(OSError):
                if path.is_file() and content_digest(path) == digest:
                    path.unlink()
                    removed.append(relative)
        atomic_write_text(self.path / MANIFEST, json.dumps(
            {"run": self.identity, "files": dict(sorted(self.written.items()))}, indent=1) + "\n")
        return removed


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return not path.is_symlink()
    except ValueError:
        return False
