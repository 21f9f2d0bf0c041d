"""Siamese training throughput of each topology in fp32 and bf16, side by side in one run, on this CPU
(or a GPU: --device cuda).

    python benchmarks/topologies.py [--topologies sn1,sn8] [--sizes 224,min] [--precisions fp32,bf16]
                                    [--batch P] [--repeats N] [--threads T] [--matmul-size N] [--csv]
                                    [--device cpu|cuda] [--rate-table FILE]

``--rate-table FILE`` also writes the rows as a rate table (columns
``device,topology,input,precision,images_per_s,gflops,fraction_of_matmul``) that the dry run of
``dissim run`` reads to estimate GPU time: on a GPU machine, ``--device cuda --rate-table
benchmarks/results/<gpu>.csv`` (see dissim.experiment.planning).

One *training step* is what ``dissim.train.loop.fit`` does per batch: P pairs (2P raw inputs) through
the twin as ``SiameseNet.to_device(Compute.of("cpu", precision))`` sets it up (bf16: autocast, last fc and
features in float32, channels-last images), the BCE head, backward, and an Adam step (foreach in
fp32, fused in bf16, as ``dissim.train.twin`` chooses). One warm-up step, then the median of
``--repeats`` timed steps; images/s = 2P / median.

FLOPs per image are counted from the layer table (convolutions and fc layers, multiply-add = 2):
training = 3 x forward. GFLOP/s is images/s times that; each is also given as a fraction of this
machine's matmul rate in the same precision (square ``a @ b``, measured at the start of the run).
Inputs are raw, as ``fit`` keeps them: 0-255 uint8 images (N, C, S, S), float32 spectra (N, S) with
values 0-255. Default inputs are each topology's paper input, never below the topology's minimum:
224 x 224 x 3 for sn1-sn8 (pipelines/paper.toml), 32 x 32 x 3 for borsani (verify.toml),
900-point spectra for liu-spectra (the rruff-ir grid of oneshot.toml) and 1841-point spectra for
emis-cnn1d (the coffee set of openset.toml); any other 1-D topology gets 900.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from dissim.hardware import Compute, cpu_bf16_support, device_name  # noqa: E402
from dissim.nets import SiameseNet, get_topology, list_topologies  # noqa: E402
from dissim.train import create_loss  # noqa: E402

PAPER_INPUT = {"borsani": 32, "emis-cnn1d": 1841}  # others: 224 (images) or 900 (spectra)
MIXED = {"fp32": {"foreach": True}, "bf16": {"fused": True}}  # Adam as dissim.train.twin._optimizer_options


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topologies", help="comma list of topology names (default: every registered one)")
    p.add_argument("--sizes", default="paper", help="comma list of input sides: numbers, 'min' or 'paper' (default)")
    p.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32 and bf16 (default both)")
    p.add_argument("--channels", type=int, default=3, help="image channels (default 3; spectra have 1)")
    p.add_argument("--batch", type=int, default=4, help="pairs per step (default 4)")
    p.add_argument("--repeats", type=int, default=3, help="timed steps after one warm-up (default 3)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--matmul-size", type=int, default=2048, help="side of the matmul that rates the machine")
    p.add_argument("--csv", action="store_true", help="print CSV rows only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--rate-table", type=Path, help="also write the rows as a rate table for dry-run estimates")
    args = p.parse_args(argv)
    args.precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    if not set(args.precisions) <= set(MIXED) or not args.precisions:
        p.error("--precisions takes fp32 and/or bf16")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device here")
    if min(args.batch, args.repeats, args.channels, args.matmul_size) < 1:
        p.error("--batch, --repeats, --channels and --matmul-size must be positive")
    return args


def median_seconds(step, repeats: int, device: str = "cpu") -> float:
    def timed() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed()  # warm-up
    return statistics.median(timed() for _ in range(repeats))


def matmul_gflops(precision: str, n: int, repeats: int = 3, device: str = "cpu") -> float:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats, device) / 1e9


def training_step(topology, size: int, channels: int, precision: str, pairs: int, device: str = "cpu"):
    net = SiameseNet(topology, channels, size).to_device(Compute.of(device, precision, topology.dims)).train()
    loss = create_loss("bce", net.embedding_dim).to(device)
    optimizer = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=1e-4, betas=(0.9, 0.99),
                                 **MIXED[precision])
    shape = (2 * pairs, channels, size, size) if topology.dims == 2 else (2 * pairs, size)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)  # raw inputs, as dissim.train.twin keeps
    x = x if topology.dims == 2 else x.float()  # them: images uint8, spectra float32
    target = (torch.arange(pairs, device=device) % 2).float()

    def step():
        features = net(x)
        value = loss(features[:pairs], features[pairs:], target=target)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()

    return step


def input_sides(topology, channels: int, sizes: str) -> list[int]:
    minimum = topology.min_input_size(channels)
    paper = PAPER_INPUT.get(topology.name, 224 if topology.dims == 2 else 900)
    words = [s.strip() for s in sizes.split(",") if s.strip()]
    sides = [minimum if s == "min" else paper if s == "paper" else int(s) for s in words]
    return list(dict.fromkeys(max(side, minimum) for side in sides))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    names = args.topologies.split(",") if args.topologies else list_topologies()
    load_start = os.getloadavg()[0]
    rates = {p: matmul_gflops(p, args.matmul_size, device=args.device) for p in args.precisions}
    table = []  # rate-table rows
    hardware = cpu_bf16_support()
    if args.csv:
        print("topology,input,precision,images_per_s,gflops,matmul_gflops,fraction_of_matmul")
    else:
        bf16 = (f"bf16 hardware: {hardware}" if hardware else  # bf16 without it is measured all the same
                "no hardware bf16: bf16 is correct but slow" if "bf16" in args.precisions else "no hardware bf16")
        where = f"GPU {device_name(args.device)}" if args.device.startswith("cuda") else f"CPU ({bf16})"
        print(f"# {where}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; {args.batch} pairs per step; median of {args.repeats} "
              "after 1 warm-up")
        print("# matmul " + ", ".join(f"{p} {r:.0f} GFLOP/s" for p, r in rates.items()) +
              f" ({args.matmul_size}^2); training FLOPs = 3 x forward (layer table)")
        cols = "".join(f" {p + ' img/s':>11} {p + ' GF/s':>10} {'of mm':>6}" for p in args.precisions)
        print(f"{'topology':<12} {'input':>6}{cols}" + (f" {'bf16/fp32':>9}" if len(args.precisions) == 2 else ""))
    for name in names:
        topology = get_topology(name)
        channels = args.channels if topology.dims == 2 else 1
        for size in input_sides(topology, channels, args.sizes):
            gflop = 3 * topology.forward_flops(channels, size) / 1e9
            speed = {}
            for precision in args.precisions:
                step = training_step(topology, size, channels, precision, args.batch, args.device)
                speed[precision] = 2 * args.batch / median_seconds(step, args.repeats, args.device)
                del step
                g = speed[precision] * gflop
                table.append([device_name(args.device), topology.name, size, precision, f"{speed[precision]:.4g}",
                              f"{g:.4g}", f"{g / rates[precision]:.4g}"])
                if args.csv:
                    g = speed[precision] * gflop
                    print(f"{topology.name},{size},{precision},{speed[precision]:.4g},{g:.4g},{rates[precision]:.4g},"
                          f"{g / rates[precision]:.4g}")  # significant digits: toy runs are slow, not zero
            if not args.csv:
                cells = "".join(f" {speed[p]:>11.1f} {speed[p] * gflop:>10.1f} {speed[p] * gflop / rates[p]:>6.3f}"
                                for p in args.precisions)
                ratio = f" {speed['bf16'] / speed['fp32']:>9.2f}" if len(speed) == 2 else ""
                print(f"{topology.name:<12} {size:>6}{cells}{ratio}")
            sys.stdout.flush()
    if args.rate_table:
        args.rate_table.parent.mkdir(parents=True, exist_ok=True)
        with open(args.rate_table, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["device", "topology", "input", "precision", "images_per_s", "gflops",
                             "fraction_of_matmul"])
            writer.writerows(table)
    if not args.csv:  # wall-clock timings: other processes on the machine inflate them
        print(f"# load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}; "
              f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
