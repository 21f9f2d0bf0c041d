"""The frozen before/after runs of tests/test_golden.py: how each golden output is produced.

``python tests/golden_runs.py OUT`` writes every run's outputs under OUT/<name>/ (the committed
goldens in tests/data/golden/<name>/ came from this script at commit 42d2b17, before the core
was merged); the test runs the same commands and compares the tables. The ensemble-shared run reads
shared/ensemble.toml, ensemble.toml without the [[fusions]] entry that its flags leave without members
(such an entry is refused; the goldens' tables do not hold it).
"""

from __future__ import annotations

import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
# name -> (recipe, data set and override arguments)
RUNS = {
    "ensemble": ("ensemble.toml", ["--dataset", "digits"]),
    "ensemble-shared": ("shared/ensemble.toml", ["--dataset", "digits", "--share-network", "yes", "--prototypes", "2,4",
                                          "--folds", "2", "--losses", "bce,triplet", "--optimizers", "adam,dgrad"]),
    "oneshot": ("oneshot.toml", []),
    "oneshot-variants": ("oneshot-variants.toml", []),
}
TABLES = ("table.csv", "table.md", "table-macro-f1.csv")


def arguments(name: str, out: Path) -> list[str]:
    recipe, data = RUNS[name]
    # float32: the goldens predate --precision, and bf16 (auto on some CPUs) computes other numbers
    return ["--pipeline", str(GOLDEN / recipe), *data, "--threads", "1", "--seed", "3", "--precision", "fp32",
            "--no-progress",
            "--out", str(out)]


if __name__ == "__main__":
    from dissim.pipelines.run import main

    target = Path(sys.argv[1])
    for run in RUNS:
        print(run, "exit", main(arguments(run, target / run)))
