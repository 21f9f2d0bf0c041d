"""The frozen-feature baseline at several input sizes and precisions: accuracy and seconds, side by side.

    python benchmarks/frozen_baseline.py [--dataset digits] [--data-root DIR] [--folds 1,2,3,4,5]
                                         [--sizes 64,128,224] [--precisions fp32,bf16] [--seed 1]

For each input size and precision: the pooled ImageNet features of a frozen EfficientNet-Lite0 for
every image (one pass, timed), then per fold the baseline row's own classifier (standardisation and
logistic regression, C chosen by inner cross-validation on the training fold) on the data set's own
folds. Printed: size, precision, feature seconds, images per second, accuracy per fold and mean.
This is how the run's baseline was set to 224 px and fp32 (``FROZEN_PRECISION``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a source checkout

from dissim.data import load_dataset  # noqa: E402
from dissim.data.preprocess import preprocess  # noqa: E402
from dissim.eval.cnn import frozen_features  # noqa: E402
from dissim.protocols.base import task_seed  # noqa: E402
from dissim.provenance import machine  # noqa: E402
from dissim.protocols.ensemble.baselines import (  # noqa: E402
    FROZEN_NETWORK,
    frozen_baseline_name,
    tuned_logistic_regression,
)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root")
    p.add_argument("--folds", help="comma-separated folds (default: all of the data set's)")
    p.add_argument("--sizes", default="64,128,224")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    data = load_dataset(args.dataset, args.data_root, args.seed)
    folds = [int(f) for f in args.folds.split(",")] if args.folds else list(range(1, len(data.folds) + 1))
    host = machine()
    print(f"{data.name}: {len(data)} images, folds {folds}; frozen {FROZEN_NETWORK}; {host['cpu']}, "
          f"{host['cpu_cores']} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"{'size':>5} {'precision':>9} {'seconds':>8} {'images/s':>9}  accuracy per fold (%)  mean")
    for size in (int(s) for s in args.sizes.split(",")):
        images = preprocess(data, size)
        for precision in args.precisions.split(","):
            started = time.perf_counter()
            features = frozen_features(images, FROZEN_NETWORK, precision=precision)
            seconds = time.perf_counter() - started
            accuracies = []
            for fold in folds:
                train, test = data.folds[fold - 1]
                predicted, _ = tuned_logistic_regression(features[train], data.labels[train], features[test],
                                                         task_seed(args.seed, frozen_baseline_name(), fold))
                accuracies.append(100 * float(np.mean(predicted == data.labels[test])))
            per_fold = " ".join(f"{a:6.2f}" for a in accuracies)
            print(f"{size:>5} {precision:>9} {seconds:>8.1f} {len(data) / seconds:>9.1f}  {per_fold}  "
                  f"{np.mean(accuracies):6.2f}", flush=True)


if __name__ == "__main__":
    main()
