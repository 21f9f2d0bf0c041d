"""Shared fixtures: an isolated cache, a tiny topology, small synthetic image trees, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TESTS = Path(__file__).resolve().parent
TINY_TOPOLOGY = TESTS / "data" / "tiny.toml"
TINY_1D = str(TESTS / "data" / "tiny1d.toml")  # a tiny 1-D layer table for spectra


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty cache (never the user's ~/.cache/dissim)."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DISSIM_CACHE", str(root))
    return root


@pytest.fixture
def torch_one_thread():
    """One torch thread for the test (small nets; no stalls when the other core is busy)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def synthetic_image(cls: int, rng: np.random.Generator, size=(20, 16), colour=False) -> np.ndarray:
    """A class-specific pattern (stripes of a class-dependent period) plus noise, uint8."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    pattern = (np.sin((xx if cls % 2 else yy) * (0.6 + 0.5 * cls)) + 1) * 100
    image = np.clip(pattern + rng.normal(0, 25, size=(h, w)), 0, 255).astype(np.uint8)
    if colour:
        image = np.stack([image, np.roll(image, 1, 0), 255 - image], axis=2)
    return image


def write_tree(root: Path, classes=("a", "b", "c"), per_class=10, folds: int | None = None, seed=0,
               colour=False) -> Path:
    """root/<class>/<i>.png, or root/Fold<k>/<class>/<i>.png when ``folds`` is given."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        for i in range(per_class):
            sub = root / (f"Fold{i % folds + 1}" if folds else "") / name
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray(synthetic_image(c, rng, colour=colour)).save(sub / f"{i:03d}.png")
    return root


@pytest.fixture
def image_tree(tmp_path) -> Path:
    return write_tree(tmp_path / "images")


def write_recipe(path: Path, *, methods=("Cross",), spaces=("fully",), prototypes=(2,), iterations=3,
                 batch_size=4, share_network=True, extra: str = "", top: str = "") -> Path:
    """A tiny recipe over the tiny topology (``top``: top-level keys; ``extra``: tables at the end)."""
    path.write_text(f'''
description = "tiny test recipe"
{top}
[profile]
input_size = 16
iterations = {iterations}
batch_size = {batch_size}
prototypes = {list(prototypes)}
share_network = {"true" if share_network else "false"}
embed_batch_size = 16
[members]
topologies = ["{TINY_TOPOLOGY}"]
methods = {list(methods)!r}
spaces = {list(spaces)!r}
{extra}
'''.replace("'", '"'))
    return path


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process (one task at a time unless --jobs is given): returns (exit status, stdout, stderr)."""
    from dissim.pipelines.run import main

    def run(*args: str):
        args = [str(a) for a in args]
        status = main(args if "--jobs" in args or "--list" in args else [*args, "--jobs", "1"])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
