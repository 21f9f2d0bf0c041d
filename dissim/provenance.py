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
    """``auto`` -> cuda when available, else cpu; ``cuda`` (or ``cuda:N``) without that GPU is a user error."""
    choice = str(choice)
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = choice.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise UserError(f"--device {choice!r}: use auto, cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {choice}: no CUDA device is available here; use --device cpu or auto")
    if index and int(index) >= torch.cuda.device_count():
        raise UserError(f"--device {choice}: this machine has {torch.cuda.device_count()} CUDA device(s)")
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
