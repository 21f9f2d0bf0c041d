"""The benchmark scripts still run against the package (at toy sizes; their figures are not checked)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script, args, last_words", [
    ("fully_features.py", ["--images", "12", "--classes", "2", "--k", "2", "--topology", "sn6", "--size", "58",
                           "--sample-pairs", "2", "--repeats", "2", "--device", "cpu"], "speedup:"),
    ("topologies.py", ["--topologies", "sn6", "--sizes", "min", "--repeats", "1", "--batch", "1",
                       "--matmul-size", "64"], "load average"),
])
def test_benchmark_script_runs(script, args, last_words):
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert last_words in run.stdout


def test_topology_benchmark_csv_has_one_row_per_topology_input_and_precision():
    args = ["--topologies", "sn8,liu-spectra", "--sizes", "min", "--batch", "1", "--repeats", "1",
            "--matmul-size", "64", "--csv"]
    run = subprocess.run([sys.executable, str(BENCHMARKS / "topologies.py"), *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert {"topology", "input", "precision", "images_per_s", "gflops"} <= set(rows[0])
    assert [(r["topology"], r["precision"]) for r in rows] == [
        ("sn8", "fp32"), ("sn8", "bf16"), ("liu-spectra", "fp32"), ("liu-spectra", "bf16")]
    assert all(float(r["images_per_s"]) > 0 and float(r["gflops"]) > 0 for r in rows)
