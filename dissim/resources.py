"""Locate the packaged layer tables (``topologies/``) and recipes (``pipelines/``).

In a source checkout they sit at the top of the repository; in an installed wheel they travel
inside the package under ``dissim/_resources/``.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Directory of packaged resource files ``name`` ("topologies" or "pipelines")."""
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"dissim resource folder {name!r} not found next to {_PACKAGE}")
