"""The benchmark scripts still run against the package (at toy sizes; their figures are not checked)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_topology_benchmark_csv_has_one_row_per_topology_input_and_precision(tmp_path):
    from dissim.experiment.planning import RATE_COLUMNS, read_rate_table

    table = tmp_path / "results" / "this-machine.csv"
    args = ["--topologies", "sn8,liu-spectra", "--sizes", "min", "--batch", "1", "--repeats", "1",
            "--matmul-size", "64", "--csv", "--rate-table", str(table)]
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
    # the same rows as a rate table that dry runs read for GPU estimates
    assert table.read_text().splitlines()[0] == ",".join(RATE_COLUMNS)
    rates = read_rate_table(table)
    assert [(r["topology"], str(r["input"]), r["precision"], r["images_per_s"]) for r in rates] == [
        (r["topology"], r["input"], r["precision"], float(r["images_per_s"])) for r in rows]


def test_laptop_benchmark_development_split_never_holds_an_outer_test_item():
    import importlib.util

    from dissim.data import load_dataset

    spec = importlib.util.spec_from_file_location("laptop_benchmark", BENCHMARKS / "laptop.py")
    laptop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(laptop)
    digits = load_dataset("digits")
    for outer in (1, 4):
        train, test = digits.folds[outer - 1]
        dev = laptop.development_set(digits, outer, 3, seed=1)
        assert len(dev) == len(train) and dev.fingerprint != digits.fingerprint
        assert all((dev.read(i) == digits.read(int(train[i]))).all() for i in (0, 7, len(dev) - 1))
        assert np.array_equal(dev.labels, digits.labels[train]) and not set(train) & set(test)
        inner_tests = np.concatenate([t for _, t in dev.folds])
        assert sorted(inner_tests) == list(range(len(dev)))  # the inner folds partition the split
        for inner_train, inner_test in dev.folds:
            assert not set(inner_train) & set(inner_test)
            assert set(dev.labels[inner_test]) == set(digits.labels)  # stratified
    folder = Path(laptop.tempfile.mkdtemp())
    for name in laptop.CANDIDATES:  # every candidate is a valid recipe whose headline is a learned fusion row
        recipe = laptop.load_recipe(str(laptop.recipe_file(name, folder)))
        assert recipe.headline == laptop.HEADLINE
        assert {r.name: r.fusion for r in recipe.table.rows}[laptop.HEADLINE] == "learned"
    for name in laptop.RECIPES:  # and so are the packaged recipes the benchmark chose
        recipe = laptop.load_recipe(str(laptop.recipe_file(name, folder)))
        assert {r.name: r.fusion for r in recipe.table.rows}[recipe.headline] == "learned"
