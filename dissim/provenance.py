"""Where a result was computed: package versions, the machine, and the source commit (the device a
run uses: :mod:`dissim.hardware`)."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import subprocess
from pathlib import Path

from ._version import __version__
from .hardware import cpu_model, gpu_names

_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "joblib", "metric-learn", "pybaselines",
             "matplotlib")
_SOURCE = Path(__file__).resolve().parent.parent  # the checkout's root when dissim runs from one


def versions() -> dict[str, str | None]:
    """dissim, Python and the installed versions of the packages results depend on."""
    found = {"dissim": __version__, "python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def machine() -> dict:
    """The CPU model, its logical cores, the GPUs this process sees and the operating system."""
    return {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "gpus": gpu_names(), "platform": platform.platform()}


_CODE = ("dissim", "pipelines", "topologies", "pyproject.toml")  # what results depend on (not results/, docs/)


def source_commit(root: Path = _SOURCE) -> dict | None:
    """``{"commit": sha, "modified": bool}`` of the git checkout dissim is imported from (modified:
    the package, recipes or layer tables differ from the commit), or None when dissim is not run from
    a checkout (an installed wheel) or git is not there."""
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None
        return {"commit": git("rev-parse", "HEAD"),
                "modified": bool(git("status", "--porcelain", "--untracked-files=no", "--", *_CODE))}
    except (OSError, subprocess.SubprocessError):
        return None
