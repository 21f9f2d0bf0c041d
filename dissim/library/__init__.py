"""Reference libraries matched by a trained matcher (add/remove classes without retraining)."""

from .build import build_library
from .reference import Match, ReferenceLibrary

__all__ = ["Match", "ReferenceLibrary", "build_library"]
