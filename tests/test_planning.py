"""Dry runs that plan: trainings counted (eCNN fine-tunes included), FLOPs labelled per fold and over
all folds, wall time from rates measured on this machine, GPU time from a rate table or the
datasheet, and a warning when the planned GPU is not here."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_recipe, write_tree
from PIL import Image

from dissim.experiment import RunOptions, load_recipe
from dissim.experiment.planning import (
    DATASHEET_FLOPS,
    RATE_COLUMNS,
    measurement_key,
)
from dissim.protocols import PROTOCOLS
from dissim.storage import cache_root

def inflar_stand_in(root: Path) -> Path:
    """InfLar's layout and size: FRAMES/Fold1..Fold3/{B,I,S,U}/, 60 small colour frames each (720)."""
    rng = np.random.default_rng(0)
    for fold in (1, 2, 3):
        for c in "BISU":
            folder = root / "FRAMES" / f"Fold{fold}" / c
            folder.mkdir(parents=True)
            for i in range(60):
                Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(folder / f"{c}{i}.png")
    return root


def paper_table2_workloads(root: Path):
    from dissim.data import load_dataset
    from dissim.hardware import RunCompute

    protocol = PROTOCOLS.get("ensemble")
    recipe = load_recipe("paper-table2")
    compute = RunCompute.resolve("cpu", "auto", jobs=2, threads=1)
    recipe = recipe.with_compute(compute)
    data = load_dataset("InfLar", root, 1)
    plan = protocol.plan(recipe, data, RunOptions(device="cpu", jobs=2, threads=1, progress=False, compute=compute))
    return plan, protocol.workloads(plan)


def seed_rates(workloads, images_per_s: float, fraction: float) -> None:
    """Rates as if measured earlier on this machine (the dry run then reads them instead of measuring):
    ``images_per_s`` at any batch, at ``fraction`` of the matmul rate."""
    rows = []
    for w in workloads:
        key = measurement_key(w, "cpu", w.precision, 1)
        matmul = images_per_s * 3 * w.forward_flops / fraction
        rows.append({**key, "images_per_s": images_per_s, "gflops": 1.0, "fraction_of_matmul": fraction,
                     "seconds_per_image": 1 / images_per_s, "seconds_per_step": 0, "matmul_gflops": matmul / 1e9,
                     "measured": "2026-01-01"})
    path = cache_root() / "rates.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def number_after(text: str, pattern: str) -> float:
    return float(re.search(pattern, text).group(1).replace(",", ""))


def test_paper_table2_on_inflar_plans_trainings_flops_and_hours(cli, tmp_path):
    root = inflar_stand_in(tmp_path / "inflar")
    plan, workloads = paper_table2_workloads(root)
    seed_rates(workloads, images_per_s=4.0, fraction=0.25)
    status, out, err = cli("--dry-run", "--pipeline", "paper-table2", "--dataset", "InfLar", "--data-root", root,
                           "--device", "cpu", "--jobs", "2")
    assert status == 0, err
    assert "measuring" not in err  # the seeded rates were read
    assert "(720 images, 4 classes, 3 folds)" in out and "288 trainings: 288 Siamese" in out
    total = number_after(out, r"about ([\d,.]+) PFLOP over all 3 folds")
    per_fold = number_after(out, r"over all 3 folds \(([\d,.]+) PFLOP per fold\)")
    assert total == pytest.approx(sum(w.flops for w in workloads) / 1e15, rel=1e-3)
    assert per_fold == pytest.approx(total / 3, rel=1e-3)
    # this CPU: every training's images at 4 per second (forward passes a third of that), two at once
    seconds = sum(w.count * (w.train_images + w.forward_images / 3) / 4.0 for w in workloads)
    cpu_hours = number_after(out, r"on this CPU .*?: about [\d,.]+ years \(([\d,]+) hours\)")
    assert cpu_hours == pytest.approx(seconds / 2 / 3600, rel=1e-3)
    assert "GPU-sized job" in out
    # an H100-class GPU from the datasheet: the same fraction of its peak
    gpu_seconds = sum(w.count * w.seconds(0.25 * DATASHEET_FLOPS["bf16"] / (3 * w.forward_flops)) for w in workloads)
    gpu_hours = number_after(out, r"on one H100 SXM-class GPU: about ([\d,.]+) GPU-hours")
    assert gpu_hours == pytest.approx(gpu_seconds / 3600, rel=0.01)
    assert "an estimate" in out and "datasheet peak" in out and "a measured rate table in" in out

    status, one, err = cli("--dry-run", "--pipeline", "paper-table2", "--dataset", "InfLar", "--data-root", root,
                           "--device", "cpu", "--jobs", "2", "--folds", "1")
    assert status == 0, err
    assert "96 trainings" in one and "1 fold)" in one and "for 1 fold" in one and "PFLOP per fold" not in one
    assert number_after(one, r"about ([\d,.]+) PFLOP for 1 fold") == pytest.approx(per_fold, rel=0.02)


def test_a_measured_gpu_rate_table_replaces_the_datasheet(cli, tmp_path, monkeypatch):
    root = inflar_stand_in(tmp_path / "inflar")
    _, workloads = paper_table2_workloads(root)
    seed_rates(workloads, images_per_s=4.0, fraction=0.25)
    tables = tmp_path / "rates"
    tables.mkdir()
    with open(tables / "h100.csv", "w") as handle:
        handle.write(",".join(RATE_COLUMNS) + "\n")
        for name in [f"sn{i}" for i in range(1, 9)]:
            handle.write(f"NVIDIA H100 80GB HBM3,{name},224,bf16,1000,1,0.5\n")
    monkeypatch.setenv("DISSIM_RATES", str(tables))
    status, out, err = cli("--dry-run", "--pipeline", "paper-table2", "--dataset", "InfLar", "--data-root", root,
                           "--device", "cpu")
    assert status == 0, err
    gpu_hours = number_after(out, r"on one NVIDIA H100 80GB HBM3: about ([\d,.]+) GPU-hours")
    assert gpu_hours == pytest.approx(sum(w.count * w.seconds(1000) for w in workloads) / 3600, rel=0.01)
    assert "datasheet" not in out


def test_a_dry_run_measures_each_network_once_and_remembers(cli, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", methods=("Cross", "Triplet"))
    root = write_tree(tmp_path / "images")
    args = ["--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--dry-run", "--device", "cpu"]
    status, out, err = cli(*args)
    assert status == 0, err
    assert "measuring the training speed" in err and "1 network" in err  # both methods train the same network
    assert re.search(r"on this CPU \(.*1 thread per training, 1 at once\): (under a second|about [\d.]+ (seconds|minutes))",
                     out)
    assert re.search(r"tiny at 16 (in steps of \d+ )?[\d,.]+ images/s", out) and "measured now" in out
    rows = list(csv.DictReader(open(cache_root() / "rates.csv")))
    assert [(r["topology"], r["input"]) for r in rows] == [("tiny", "16")] and float(rows[0]["images_per_s"]) > 0
    status, again, err = cli(*args)
    assert status == 0 and "measuring" not in err and "measured now" not in again


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_planning_for_a_gpu_that_is_not_here_warns_and_estimates(cli, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml")
    root = write_tree(tmp_path / "images")
    status, out, err = cli("--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--dry-run",
                           "--device", "cuda")
    assert status == 0, err
    assert "warning: --device cuda: this machine has no CUDA device" in err
    assert "  on this CPU (" not in out and "H100 SXM-class GPU: " in out


def test_laptop_counts_its_ecnn_fine_tunes(cli, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    monkeypatch.setattr("dissim.hardware.cpu_bf16_support", lambda: True)
    status, out, err = cli("--dry-run", "--pipeline", "laptop", "--device", "cpu")
    assert status == 0, err
    # the eCNN (128 px) trains in bf16 on such a CPU, small ImageNet inputs in fp32: the plan says both
    assert "precision bf16 (ImageNet networks fp32 below 128 px, bf16 from 128 px on)" in out
    assert "10 trainings: 5 Siamese" in out and "and 5 eCNN fine-tunes" in out
    assert "total: 5 members, 10 trainings" in out
