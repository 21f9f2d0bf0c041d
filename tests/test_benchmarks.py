"""The benchmark scripts still run against the package (at toy sizes; their figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script, args, last_words", [
    ("fully_features.py", ["--images", "12", "--classes", "2", "--k", "2", "--topology", "sn6", "--size", "58",
                           "--sample-pairs", "2", "--repeats", "2", "--device", "cpu"], "speedup:"),
    ("topologies.py", ["--topologies", "sn6", "--sizes", "min", "--repeats", "1", "--csv"], "sn6,"),
])
def test_benchmark_script_runs(script, args, last_words):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert last_words in run.stdout
