"""Forward+backward time per Siamese pair for each backbone topology, on this machine's CPU.

    python benchmarks/topologies.py [--csv] [--repeats N] [--batch P] [--topologies sn1,sn3]
                                    [--sizes 224,min] [--channels 3]

A *pair* is two images through the backbone, the BCE head on σ(embeddings), and the backward
pass (no optimiser step), as one iteration of ``dissim.train.train_siamese`` does per pair. Each
measurement runs a batch of P pairs (2P images), one warm-up then ``--repeats`` timed runs; the
median is divided by P. Torch's thread count is left at its default.

FLOPs per pair are counted from the layer table (convolutions and FC layers, multiply and add
counted separately, bias/activation/pooling ignored): forward FLOPs of one image x 3 (forward +
backward, the usual estimate of backward ≈ 2 x forward) x 2 images. GFLOP/s is that count over
the measured time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from dissim.nets import Backbone, get_topology, list_topologies  # noqa: E402
from dissim.train import create_loss  # noqa: E402

FLOP_FACTOR = 3 * 2  # (forward + backward ≈ 3 x forward) x 2 images per pair


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topologies", help="comma list of topology names (default: all packaged sn*)")
    p.add_argument("--sizes", default="224,min", help="comma list of input sides; 'min' = the topology's minimum")
    p.add_argument("--channels", type=int, default=3, help="input channels (default 3: colour images)")
    p.add_argument("--batch", type=int, default=2, help="pairs per timed batch (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats after one warm-up (default 3)")
    p.add_argument("--csv", action="store_true", help="print only topology,input,ms_per_pair,gflop_per_pair,gflops rows")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or args.channels < 1:
        p.error("--batch, --repeats and --channels must be positive")
    return args


def time_pairs(backbone: torch.nn.Module, head: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
               repeats: int) -> float:
    """Median seconds of one forward+backward of the batch of pairs ``x`` (first half vs second half)."""
    pairs = len(target)

    def step():
        emb = torch.sigmoid(backbone(x))
        loss = head(emb[:pairs], emb[pairs:], target=target)
        backbone.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        loss.backward()

    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = args.topologies.split(",") if args.topologies else [n for n in list_topologies() if n.startswith("sn")]
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    torch.manual_seed(args.seed)
    load_start = os.getloadavg()[0]
    if args.csv:
        print("topology,input,ms_per_pair,gflop_per_pair,gflops")
    else:
        print(f"# CPU, torch {torch.__version__}, {torch.get_num_threads()} threads; {args.channels}-channel input; "
              f"batch {args.batch} pairs; median of {args.repeats} after 1 warm-up")
        print("# a pair = 2 images through the backbone + BCE head + backward (no optimiser step)")
        print("# FLOPs per pair = forward FLOPs of one image (conv + FC, multiply-add = 2) x 3 (fwd+bwd) x 2 images")
        print(f"{'topology':<9} {'input':>8} {'ms/pair':>10} {'GFLOP/pair':>11} {'GFLOP/s':>8}")
    for name in names:
        topology = get_topology(name)
        minimum = topology.min_input_size(args.channels)
        for size_text in sizes:
            size = minimum if size_text == "min" else int(size_text)
            backbone = Backbone(topology, args.channels, size).train()
            head = create_loss("bce", backbone.embedding_dim)
            shape = (2 * args.batch, args.channels) + (size,) * topology.dims
            x = torch.randint(0, 256, shape).float()  # raw 0-255 values, as the training loop feeds them
            target = (torch.arange(args.batch) % 2).float()
            seconds = time_pairs(backbone, head, x, target, args.repeats) / args.batch
            gflop = FLOP_FACTOR * topology.forward_flops(args.channels, size) / 1e9
            label = f"{size} min" if size_text == "min" else f"{size}"
            if args.csv:
                print(f"{name},{size},{seconds * 1e3:.2f},{gflop:.3f},{gflop / seconds:.2f}")
            else:
                print(f"{name:<9} {label:>8} {seconds * 1e3:>10.1f} {gflop:>11.3f} {gflop / seconds:>8.1f}")
            sys.stdout.flush()
            del backbone, head, x
    if not args.csv:
        # the timings are wall-clock: other processes on the machine inflate them
        print(f"# load average (1 min) at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}; "
              f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
