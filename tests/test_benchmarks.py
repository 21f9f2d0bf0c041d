"""The benchmark scripts still run against the package (at toy sizes; their figures are not checked)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from dissim.nets import get_topology

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
    lines = run.stdout.splitlines()
    assert lines[0] == "topology,input,precision,images_per_s,gflops,matmul_gflops,fraction_of_matmul"
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert len(rows) == len(lines) - 1  # exactly one header, nothing else printed
    minimum = {name: str(get_topology(name).min_input_size(channels))
               for name, channels in [("sn8", 3), ("liu-spectra", 1)]}
    assert [(r["topology"], r["input"], r["precision"]) for r in rows] == [
        (name, minimum[name], precision) for name in ("sn8", "liu-spectra") for precision in ("fp32", "bf16")]
    numbers = ("images_per_s", "gflops", "matmul_gflops", "fraction_of_matmul")
    assert all(float(r[key]) > 0 for r in rows for key in numbers)
