"""Where a result was computed: package versions (the device: :mod:`dissim.hardware`)."""

from __future__ import annotations

import importlib.metadata as metadata
import platform

from . import __version__

_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "joblib", "metric-learn", "pybaselines",
             "matplotlib")


def versions() -> dict[str, str | None]:
    """dissim, Python and the installed versions of the packages results depend on."""
    found = {"dissim": __version__, "python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
