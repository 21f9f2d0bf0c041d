"""Reference libraries of spectra matched by a trained Siamese network (add/remove without retraining)."""

from .build import build_library
from .reference import Match, ReferenceLibrary

__all__ = ["Match", "ReferenceLibrary", "build_library"]
