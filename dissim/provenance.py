"""Where a result was computed: the device chosen, its name, and package versions."""

from __future__ import annotations

import importlib.metadata as metadata
import platform

import torch

from . import __version__
from .errors import UserError

_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "joblib", "metric-learn", "pybaselines",
             "matplotlib")


def resolve_device(choice: str) -> str:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is a user error."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if choice not in ("cpu", "cuda"):
        raise UserError(f"--device {choice!r}: use auto, cpu or cuda")
    return choice


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    """dissim, Python and the installed versions of the packages results depend on."""
    found = {"dissim": __version__, "python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
