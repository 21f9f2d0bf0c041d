"""The frozen before/after runs of tests/test_golden.py: how each golden output is produced.

``python tests/golden_runs.py OUT`` writes every run's outputs under OUT/<name>/ (the committed
goldens in tests/data/golden/<name>/ came from this script at commit 42d2b17, before the core
was merged); the test runs the same commands and compares the tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
# name -> (recipe, data set arguments); "{tree}" is a synthetic image tree (conftest.write_tree)
RUNS = {
    "ensemble": ("ensemble.toml", ["--dataset", "digits"]),
    "ensemble-shared": ("ensemble.toml", ["--dataset", "digits", "--share-network", "yes", "--prototypes", "2,4",
                                          "--folds", "2", "--losses", "bce,triplet", "--optimizers", "adam,dgrad"]),
    "oneshot": ("oneshot.toml", []),
    "oneshot-variants": ("oneshot-variants.toml", []),
}
TABLES = ("table.csv", "table.md", "table-macro-f1.csv")


def arguments(name: str, tree: Path, out: Path) -> list[str]:
    recipe, data = RUNS[name]
    return ["--pipeline", str(GOLDEN / recipe), *[a.format(tree=tree) for a in data], "--threads", "1",
            "--seed", "3", "--no-progress", "--out", str(out)]


def image_tree(root: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import write_tree

    return write_tree(root, classes=("a", "b", "c"), per_class=10, seed=5)


if __name__ == "__main__":
    from dissim.pipelines.run import main

    target = Path(sys.argv[1])
    tree = image_tree(target / "tree")
    for run in RUNS:
        status = main(arguments(run, tree, target / run))
        print(run, "exit", status)
