"""FULLY features: per-pair backbone evaluation versus embedding every image once.

The naive way (the authors' ``getDissimilaritySpace`` loop) runs the backbone on the image and
on the prototype for every (image, prototype) pair. dissim embeds every image and every
prototype once and evaluates only the small head on all pairs. This script times both on the
same network and data: the per-pair path on a sample of pairs (scaled to all pairs), the cached
path in full, and prints their ratio. Last line: ``speedup: <ratio>``.

    python benchmarks/fully_features.py                       # 720 images, 4 classes, k=15, sn1 at 224
    python benchmarks/fully_features.py --images 200 --size 96 # a quicker look
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from dissim.hardware import Compute
from dissim.nets import SiameseNet, get_topology
from dissim.space import FullyDissimilarity
from dissim.train import create_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=720)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--k", type=int, default=15, help="prototypes per class")
    parser.add_argument("--topology", default="sn1")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--sample-pairs", type=int, default=8, help="pairs timed on the per-pair path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="embedding batch of the cached path")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = SiameseNet(get_topology(args.topology), args.channels, args.size).to_device(Compute.of(device)).eval()
    backbone = net.backbone
    loss = create_loss("bce", net.embedding_dim).to(device)
    shape = (args.channels, args.size, args.size)
    images = rng.integers(0, 256, size=(args.images, *shape), dtype=np.uint8)
    prototypes = rng.uniform(0, 255, size=(args.k * args.classes, *shape)).astype(np.float32)
    n_pairs = len(images) * len(prototypes)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def per_pair(pairs):
        for i, j in pairs:  # backbone on both members of every pair, one pair at a time
            f1 = torch.sigmoid(backbone(torch.from_numpy(images[i:i + 1]).to(device).float()))
            f2 = torch.sigmoid(backbone(torch.from_numpy(prototypes[j:j + 1]).to(device)))
            torch.sigmoid(loss.head(f1, f2))
        sync()

    def cached():
        fx = net.embed(images, batch_size=args.batch_size)[0]  # every image through the twin once
        fp = net.embed(prototypes, batch_size=args.batch_size)[0]
        out = FullyDissimilarity(loss.fully, device=device).fit(fp).transform(fx)
        sync()
        return out

    sample = [(int(rng.integers(len(images))), int(rng.integers(len(prototypes)))) for _ in range(args.sample_pairs)]
    per_pair(sample[:1])  # warm-up
    pair_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        per_pair(sample)
        pair_times.append((time.perf_counter() - start) / len(sample))
    cached_times = []
    for _ in range(max(1, args.repeats - 1)):
        start = time.perf_counter()
        features = cached()
        cached_times.append(time.perf_counter() - start)
    assert features.shape == (len(images), len(prototypes))

    per_pair_total = statistics.median(pair_times) * n_pairs
    cached_total = statistics.median(cached_times)
    print(f"device: {device}; {args.topology} at {args.size}x{args.size}x{args.channels}; {len(images)} images, "
          f"{len(prototypes)} prototypes ({args.classes} classes x k={args.k}) = {n_pairs:,} pairs")
    print(f"per-pair backbone: {1000 * statistics.median(pair_times):.1f} ms/pair (median of {args.repeats} runs "
          f"over {len(sample)} sampled pairs) -> {per_pair_total:,.1f} s for all pairs (scaled)")
    print(f"embed once + head on all pairs: {cached_total:,.1f} s (median of {len(cached_times)} full runs)")
    print(f"speedup: {per_pair_total / cached_total:.1f}")


if __name__ == "__main__":
    main()
