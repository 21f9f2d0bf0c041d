"""How long a plan's networks take: the dry run's time estimate, from training speeds measured on the
planned device, or, for a GPU that is not here, from a rate table or the datasheet.

Each :class:`~dissim.train.throughput.Workload` (trainings of one network at one input) takes
``train_images / rate + forward_images / (3 rate)`` seconds per training, where ``rate`` is training
images per second:

- on a device that is here (the CPU, or a GPU when planning ``--device cuda`` on a machine with
  one), ``rate`` is measured at plan time by :func:`~dissim.train.throughput.training_step_time`
  (a warm-up and two timed steps of a few images, with the threads a task gets; the optimizer's
  update timed apart, so that the rate holds for the recipe's batch), each distinct network and
  input once; measurements are kept in ``<cache>/rates.csv`` for later plans;
- for a GPU that is not here, ``rate`` comes from a measured rate table, a CSV file in
  ``benchmarks/results/`` of a source checkout (or the folder ``$DISSIM_RATES``) with the columns
  ``device,topology,input,precision,images_per_s,gflops,fraction_of_matmul``
  (``python benchmarks/topologies.py --device cuda --rate-table benchmarks/results/<gpu>.csv`` writes
  one); without a table, from the datasheet of an H100 SXM: its dense tensor-core peak times the
  fraction of its own matrix-multiply rate the network reached on this CPU (an estimate; a measured
  table replaces it).

Wall time on a CPU: the trainings run ``jobs`` at a time, so the sum over trainings divided by
``jobs`` (never less than the longest training). GPU-hours: the sum over trainings. Only the
networks are counted: k-means, the SVMs, the DCT and the baselines come on top.
"""

from __future__ import annotations

import csv
import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..eval.report import count
from ..hardware import cpu_model, device_name, resolve_precision
from ..protocols.base import torch_threads
from ..storage import atomic_write_text, cache_root, stable_hash
from ..train.throughput import StepTime, Workload, matmul_rate, training_step_time

RATE_COLUMNS = ("device", "topology", "input", "precision", "images_per_s", "gflops", "fraction_of_matmul")
_MEASURED_COLUMNS = (*RATE_COLUMNS, "threads", "torch", "layers", "seconds_per_image", "seconds_per_step",
                     "matmul_gflops", "measured")
# NVIDIA H100 SXM5 datasheet, dense (no sparsity) tensor-core peaks; fp32 training uses TF32 tensor cores
# for convolutions (PyTorch's cuDNN default).
DATASHEET_GPU = "H100 SXM"
DATASHEET_FLOPS = {"bf16": 989.4e12, "fp16": 989.4e12, "fp32": 494.7e12}
DATASHEET_SOURCE = "989 TFLOP/s bf16, 495 TFLOP/s TF32, dense"
GPU_SIZED_HOURS = 24.0  # a CPU plan longer than this is called GPU work
CPU_STEP_IMAGES, GPU_STEP_IMAGES = 4, 64


@dataclass(frozen=True)
class Rate:
    """Training images per second of one workload, the fraction of its device's matmul rate that is,
    and where the number comes from."""

    images_per_s: float
    fraction: float | None
    source: str


def rate_table_folder() -> Path:
    """``$DISSIM_RATES``, else ``benchmarks/results`` of the checkout dissim runs from."""
    return Path(os.environ.get("DISSIM_RATES") or Path(__file__).resolve().parents[2] / "benchmarks" / "results")


def read_rate_table(path: Path) -> list[dict]:
    """The rows of a rate table (numbers as floats); rows that lack a column or a number are skipped."""
    rows = []
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                try:
                    rows.append({**row, "input": int(row["input"]), "images_per_s": float(row["images_per_s"]),
                                 "gflops": float(row["gflops"]), "fraction_of_matmul": float(row["fraction_of_matmul"])})
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        return []
    return rows


def gpu_rate_tables() -> dict[str, list[dict]]:
    """Measured GPU rate tables by file, each non-empty."""
    folder = rate_table_folder()
    tables = {str(path): read_rate_table(path) for path in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}
    return {path: rows for path, rows in tables.items() if rows}


def measurement_key(workload: Workload, device: str, precision: str, threads: int) -> dict:
    """What identifies a measured rate in ``<cache>/rates.csv``: the device's name, the network (name and
    a digest of its layer table), input, precision, threads and torch's version."""
    return {"device": device_name(device), "topology": workload.rate_name, "input": workload.input_size,
            "precision": precision, "threads": threads, "torch": torch.__version__,
            "layers": stable_hash([workload.topology.layers, workload.topology.dims])[:12]}


def _usable(row: dict) -> bool:
    try:
        return set(_MEASURED_COLUMNS) <= set(row) and float(row["seconds_per_image"]) > 0 and \
            float(row["seconds_per_step"]) >= 0 and float(row["matmul_gflops"]) > 0
    except (TypeError, ValueError):
        return False


class Measurements:
    """Rates measured on this machine, kept in ``<cache>/rates.csv`` (one row per device, network,
    input, precision, threads and torch version)."""

    def __init__(self):
        self.path = cache_root() / "rates.csv"
        self.rows = []
        try:
            with open(self.path, newline="") as handle:
                self.rows = [row for row in csv.DictReader(handle) if _usable(row)]
        except (OSError, UnicodeDecodeError, csv.Error):
            pass  # none kept, or not readable: measured again
        self.matmul: dict[tuple, float] = {}

    def find(self, key: dict) -> dict | None:
        return next((row for row in reversed(self.rows) if all(str(row[k]) == str(v) for k, v in key.items())), None)

    def rate(self, workload: Workload, device: str, precision: str, threads: int) -> Rate:
        """The workload's rate on ``device`` (here) in its steps: from a kept measurement, or measured now."""
        key = measurement_key(workload, device, precision, threads)
        row = self.find(key)
        if row is None:
            cuda = device.startswith("cuda")
            images = min(workload.step_images, GPU_STEP_IMAGES if cuda else CPU_STEP_IMAGES)
            with torch_threads(None if cuda else threads):
                step = training_step_time(workload.topology, workload.channels, workload.input_size, device=device,
                                          precision=precision, images=images)
                if (device, precision, threads) not in self.matmul:
                    self.matmul[(device, precision, threads)] = matmul_rate(device=device, precision=precision)
            matmul, speed = self.matmul[(device, precision, threads)], step.images_per_s(images)
            row = {**key, "images_per_s": f"{speed:.6g}", "gflops": f"{speed * 3 * workload.forward_flops / 1e9:.6g}",
                   "fraction_of_matmul": f"{speed * 3 * workload.forward_flops / matmul:.6g}",
                   "seconds_per_image": f"{step.per_image:.6g}", "seconds_per_step": f"{step.per_step:.6g}",
                   "matmul_gflops": f"{matmul / 1e9:.6g}", "measured": datetime.date.today().isoformat(), "_now": True}
            self.rows.append(row)
            self._save()
        step = StepTime(float(row["seconds_per_image"]), float(row["seconds_per_step"]))
        speed = step.images_per_s(workload.step_images)
        fraction = speed * 3 * workload.forward_flops / (float(row["matmul_gflops"]) * 1e9)
        return Rate(speed, fraction, f"measured {'now' if row.get('_now') else row['measured']}")

    def _save(self) -> None:
        try:
            text = ",".join(_MEASURED_COLUMNS) + "\n" + "".join(
                ",".join(str(row[c]).replace(",", ";") for c in _MEASURED_COLUMNS) + "\n" for row in self.rows)
            atomic_write_text(self.path, text)
        except OSError:
            pass  # a cache that cannot be written only costs a new measurement next time


def table_rate(rows: list[dict], workload: Workload, precision: str) -> Rate | None:
    """A rate from a measured table: the row of this network, input and precision; else one of the
    network at another input, scaled by FLOPs at the same fraction of the device's matmul rate."""
    mine = [r for r in rows if r["topology"] == workload.rate_name and r["precision"] == precision]
    exact = [r for r in mine if r["input"] == workload.input_size]
    if exact:
        return Rate(exact[-1]["images_per_s"], exact[-1]["fraction_of_matmul"], "measured (table)")
    if mine:
        row = min(mine, key=lambda r: abs(r["input"] - workload.input_size))
        matmul = row["gflops"] * 1e9 / row["fraction_of_matmul"]
        speed = row["fraction_of_matmul"] * matmul / (3 * workload.forward_flops)
        return Rate(speed, row["fraction_of_matmul"], f"scaled from input {row['input']} (table)")
    return None


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    """"about 3.2 hours", "about 1.35 years (11,758 hours)", "under a second"."""
    hours = seconds / 3600
    if seconds < 1:
        return "under a second"
    if seconds < 60:
        return f"about {seconds:.0f} seconds"
    if hours < 1:
        return f"about {seconds / 60:,.1f} minutes"
    if hours < 48:
        return f"about {hours:,.1f} hours"
    if hours < 24 * 60:
        return f"about {hours / 24:,.1f} days ({hours:,.0f} hours)"
    return f"about {hours / 24 / 365.25:,.2f} years ({hours:,.0f} hours)"


def _gpu_time(seconds: float) -> str:
    return f"about {seconds / 3600:,.1f} GPU-hours" if seconds >= 3600 else f"{_duration(seconds)} of GPU time"


def _totals(workloads: list[Workload], rates: list[Rate]) -> tuple[float, float]:
    """(seconds of all trainings summed, seconds of the longest training)."""
    each = [w.seconds(r.images_per_s) for w, r in zip(workloads, rates)]
    return sum(w.count * s for w, s in zip(workloads, each)), max(each, default=0.0)


def _rates_text(workloads: list[Workload], rates: list[Rate]) -> str:
    """Each network's rate (per step size where steps of different sizes differ), then the sources."""
    shown: dict[tuple, dict] = {}
    for w, r in zip(workloads, rates):
        speeds = shown.setdefault((w.rate_name, w.input_size), {})
        speeds.setdefault(_number(r.images_per_s), (w.step_images, r))
    parts = []
    for (name, size), speeds in shown.items():
        several = len(speeds) > 1
        parts += [f"{name} at {size}{f' in steps of {step}' if several else ''} {speed} images/s"
                  + (f", {r.fraction:.2g} of matmul" if r.fraction is not None else "")
                  for speed, (step, r) in speeds.items()]
    return "; ".join(parts) + f" [{', '.join(sorted({r.source for r in rates}))}]"


def time_estimate(workloads: list[Workload], *, device: str, precision_choice: str, jobs: int, threads: int,
                  log=None) -> list[str]:
    """The dry run's lines on time: on the planned device where it is here (measured), and for a CPU plan
    (or a GPU that is not here) on a GPU, from a measured rate table or the datasheet."""
    if not workloads:
        return []
    log = log or (lambda message: None)
    measurements = Measurements()
    lines = ["time of the networks (training steps and forward passes; k-means, SVMs and baselines come on top):"]
    cuda_here = torch.cuda.is_available()
    planned_gpu = device.startswith("cuda")
    measured_on = device if (not planned_gpu or cuda_here) else "cpu"

    def precision_for(w: Workload, on: str) -> str:
        return resolve_precision(precision_choice, on, dims=w.topology.dims, require=False, pretrained=w.pretrained)

    todo = {(w.rate_name, w.input_size) for w in workloads
            if measurements.find(measurement_key(w, measured_on, precision_for(w, measured_on), threads)) is None}
    if todo:
        log(f"measuring the training speed on {device_name(measured_on)} of {count(len(todo), 'network')} (a few "
            f"steps each; kept in {measurements.path} for later plans)")
    here = [measurements.rate(w, measured_on, precision_for(w, measured_on), threads) for w in workloads]
    total, longest = _totals(workloads, here)
    if measured_on == device:
        at_once = max(1, jobs)
        wall = max(total / at_once, longest)
        where = (f"this GPU ({device_name(device)})" if planned_gpu else
                 f"this CPU ({cpu_model()}; {count(threads, 'thread')} per training, {at_once} at once)")
        verdict = ""
        if not planned_gpu and wall / 3600 > GPU_SIZED_HOURS:
            verdict = " -- a GPU-sized job: plan it with --device cuda on a machine with a GPU"
        lines.append(f"  on {where}: {_duration(wall)}{verdict}")
        lines.append(f"    rates: {_rates_text(workloads, here)}")
        if planned_gpu:
            return lines
    tables = gpu_rate_tables()
    for path, rows in tables.items():
        gpu_rates = [table_rate(rows, w, precision_for(w, "cuda")) for w in workloads]
        matmul = sorted(r["gflops"] * 1e9 / r["fraction_of_matmul"] for r in rows if r["fraction_of_matmul"] > 0)
        for i, (w, r) in enumerate(zip(workloads, gpu_rates)):
            if r is None and matmul and here[i].fraction is not None:  # the network is not in the table
                speed = here[i].fraction * matmul[len(matmul) // 2] / (3 * w.forward_flops)
                gpu_rates[i] = Rate(speed, here[i].fraction, "the table's matmul rate x this CPU's fraction")
        if all(r is not None for r in gpu_rates):
            gpu_total, _ = _totals(workloads, gpu_rates)
            lines.append(f"  on one {rows[0]['device']}: {_gpu_time(gpu_total)} (rates measured on it: {path})")
            lines.append(f"    rates: {_rates_text(workloads, gpu_rates)}")
    if not tables:
        gpu_rates = [Rate(r.fraction * DATASHEET_FLOPS[precision_for(w, "cuda")] / (3 * w.forward_flops), r.fraction,
                          "estimate") for w, r in zip(workloads, here)]
        gpu_total, _ = _totals(workloads, gpu_rates)
        lines.append(f"  on one {DATASHEET_GPU}-class GPU: {_gpu_time(gpu_total)}, an estimate: each network at the "
                     f"share of matmul peak it reached on this CPU, of the {DATASHEET_GPU}'s datasheet peak "
                     f"({DATASHEET_SOURCE}); a measured rate table in {rate_table_folder()} replaces it")
    return lines
