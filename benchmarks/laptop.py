"""Accuracy against minutes of candidate CPU recipes, on development splits that never read a test fold.

    python benchmarks/laptop.py [--dataset digits] [--data-root DIR] [--candidates NAME,...]
                                [--outer-fold 1] [--inner-folds 3] [--jobs 2] [--seed 1] [--keep DIR]

The development split is the training part of outer fold ``--outer-fold`` of the data set's own
protocol, cut into ``--inner-folds`` stratified folds; the outer fold's test part is never read.
Each candidate is a recipe (``quick`` and ``laptop`` are ``pipelines/quick.toml`` and
``pipelines/laptop.toml``; the others are written out below) run from an empty cache on the CPU
with ``--jobs`` tasks at once, so its minutes include preprocessing, training, embedding, the SVMs
and every baseline. Printed per candidate: wall-clock minutes, the mean inner-fold accuracy of its
headline row (the recipe's ``headline``: for the written-out candidates, the learned fusion of all
members), the sum rule of all members, its best row, each baseline, and the headline minus the
tuned raw-pixel SVM. The recipes were chosen from this output, on digits and on the LFW subset
(``tools/export_lfw_subset.py``), so no row is picked on a test fold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a source checkout

from dissim.data import load_dataset  # noqa: E402
from dissim.data.dataset import ImageSet  # noqa: E402
from dissim.data.registry import DATASETS  # noqa: E402
from dissim.data.splits import stratified_folds  # noqa: E402
from dissim.experiment import RunOptions, load_recipe, run_experiment  # noqa: E402
from dissim.storage import stable_hash  # noqa: E402

HEADLINE = "all members, learned fusion"  # every candidate's headline, named before any run
SUM_RULE = "all members, sum rule"
RECIPES = ("quick", "laptop")  # candidates that are packaged recipes (pipelines/<name>.toml)
BASELINE_ROWS = ("raw-svm", "raw-svm-tuned", "raw-1-nn", "lite0-frozen-logreg")

ECNN_ROWS = ('{ name = "Siamese", methods = ["Cross", "Triplet"] }', '{ name = "eCNN", methods = ["eCNN"] }',
             '{ name = "Siamese + eCNN (groups)", groups = [{ methods = ["Cross", "Triplet"] }, { methods = ["eCNN"] }] }')
LITE0_ROWS = ('{ name = "small", topologies = ["small"] }',
              '{ name = "lite0 Triplet", topologies = ["lite0"], methods = ["Triplet"] }',
              '{ name = "small + lite0 Triplet", groups = [{ topologies = ["small"] }, '
              '{ topologies = ["lite0"], methods = ["Triplet"] }] }')


def candidate(*, size: int = 32, iterations: int = 300, methods=("Cross", "Triplet"), topologies=("small",),
              pretrained_lr: float | None = None, ecnn_size: int | None = None, rows=(), jitter=False) -> str:
    """A candidate recipe (without its description): batch 32, lr 1e-3, k = 5 and 10, both spaces, the
    paper's SVM; with ``ecnn_size``, a lite0 eCNN (5 epochs, lr 3e-3, no augmentation); the headline
    row fuses every member, ``rows`` show parts of it."""
    lines = ["[profile]", f"input_size = {size}", f"iterations = {iterations}", "batch_size = 32", "lr = 1e-3"]
    lines += [f"pretrained_lr = {pretrained_lr}"] if pretrained_lr else []
    lines += ['augmentation = "jitter"'] if jitter else []
    lines += ["betas = [0.9, 0.99]", "prototypes = [5, 10]", "share_network = true", "svm_C = 1000.0",
              "svm_gamma = 0.1", "triplet_margin = 1.0", "embed_batch_size = 256",
              "[members]", f"topologies = {json.dumps(list(topologies))}", f"methods = {json.dumps(list(methods))}",
              'spaces = ["fully", "deeper"]']
    if ecnn_size:
        lines += ["[ecnn]", 'networks = ["lite0"]', f"input_size = {ecnn_size}", "epochs = 5", "batch_size = 30",
                  "lr = 3e-3", 'augmentation = "none"']
    lines += ["[table]", 'columns = [{ name = "accuracy" }]',
              "rows = [" + ", ".join([f'{{ name = "{HEADLINE}", fusion = "learned" }}', f'{{ name = "{SUM_RULE}" }}',
                                      *rows]) + "]"]
    return "\n".join(lines) + "\n"


# name -> recipe text; every candidate differs from the first only where its name says
CANDIDATES = {
    "small-triplet-300": candidate(methods=("Triplet",)),
    "small-cross+triplet-300": candidate(),
    "small-cross+triplet-600": candidate(iterations=600),
    "small16-cross+triplet-600": candidate(size=16, iterations=600),
    "small64+lite0-300": candidate(size=64, topologies=("small", "lite0"), pretrained_lr=1e-3, rows=LITE0_ROWS),
    "small+ecnn64-300": candidate(ecnn_size=64, rows=ECNN_ROWS),
    "small3+ecnn64-300": candidate(methods=("Cross", "CrossDD", "Triplet"), ecnn_size=64,
                                   rows=(ECNN_ROWS[0].replace('["Cross", "Triplet"]', '["Cross", "CrossDD", "Triplet"]'),
                                         ECNN_ROWS[1], ECNN_ROWS[2].replace('["Cross", "Triplet"]',
                                                                            '["Cross", "CrossDD", "Triplet"]'))),
    "small+ecnn64-600": candidate(iterations=600, ecnn_size=64, rows=ECNN_ROWS),
    "small+ecnn128-600": candidate(iterations=600, ecnn_size=128, rows=ECNN_ROWS),
    "small16-cross+triplet-300": candidate(size=16),
    "small-jitter-triplet-300": candidate(methods=("Triplet",), jitter=True),
    "small-jitter-cross+triplet-300": candidate(jitter=True),
    "small-jitter-triplet-600": candidate(methods=("Triplet",), iterations=600, jitter=True),
    "small-jitter-triplet-300+ecnn128": candidate(methods=("Triplet",), jitter=True, ecnn_size=128,
                                                  rows=tuple(r.replace('"Cross", ', "") for r in ECNN_ROWS)),
    "small-jitter-triplet-600+ecnn128": candidate(methods=("Triplet",), iterations=600, jitter=True, ecnn_size=128,
                                                  rows=tuple(r.replace('"Cross", ', "") for r in ECNN_ROWS)),
}


def development_set(dataset: ImageSet, outer_fold: int, inner_folds: int, seed: int) -> ImageSet:
    """The training part of ``outer_fold`` as a data set of its own, with ``inner_folds`` stratified folds."""
    train = dataset.folds[outer_fold - 1][0]
    labels = dataset.labels[train]
    return ImageSet(
        name=f"{dataset.name}-dev{outer_fold}", read=lambda i: dataset.read(int(train[i])), labels=labels,
        class_names=dataset.class_names, folds=stratified_folds(labels, inner_folds, seed, where="development split"),
        fingerprint=stable_hash([dataset.fingerprint, "development", outer_fold, inner_folds, seed]),
        channels=dataset.channels,
        protocol=f"development split: the training part of outer fold {outer_fold}, stratified {inner_folds}-fold")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root")
    p.add_argument("--candidates", help=f"comma list (default: {', '.join(RECIPES)} and {', '.join(CANDIDATES)})")
    p.add_argument("--outer-fold", type=int, default=1)
    p.add_argument("--inner-folds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2, help="tasks at once (default 2: a 2-core laptop)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", type=Path, help="keep each candidate's outputs under this folder")
    args = p.parse_args(argv)
    names = [*RECIPES, *CANDIDATES]
    args.candidates = [c.strip() for c in args.candidates.split(",")] if args.candidates else names
    unknown = [c for c in args.candidates if c not in names]
    if unknown:
        p.error(f"unknown candidates {unknown}: choose from {', '.join(names)}")
    return args


def recipe_file(name: str, folder: Path) -> Path:
    if name in RECIPES:
        return REPO / "pipelines" / f"{name}.toml"
    path = folder / f"{name}.toml"
    path.write_text(f'description = "laptop candidate {name}"\nheadline = "{HEADLINE}"\n' + CANDIDATES[name])
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    dataset = load_dataset(args.dataset, args.data_root, args.seed)
    dev = development_set(dataset, args.outer_fold, args.inner_folds, args.seed)
    DATASETS.register(dev.name, lambda root, seed: dev, summary="benchmark development split")
    print(f"{dataset.name}: {dev.protocol} ({len(dev)} of {len(dataset)} images); {args.jobs} tasks at once, "
          f"{os.cpu_count()} CPUs", flush=True)
    print(f"{'candidate':<32} {'minutes':>7} {'headline':>8} {'sum rule':>8} {'best row':>8} "
          + " ".join(f"{b:>19}" for b in BASELINE_ROWS) + f" {'headline-tuned':>14}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.candidates:
            os.environ["DISSIM_CACHE"] = str(Path(scratch) / f"cache-{name}")  # from an empty cache
            out = (args.keep or Path(scratch)) / name
            recipe = load_recipe(str(recipe_file(name, Path(scratch))))
            started = time.perf_counter()
            run_experiment(recipe, RunOptions(dataset=dev.name, seed=args.seed, jobs=args.jobs, out=out,
                                              progress=False, device="cpu"))
            minutes = (time.perf_counter() - started) / 60
            with open(out / "table.csv", newline="") as handle:
                rows = {r["method"]: float(r["mean"]) for r in csv.DictReader(handle)}
            ours = {k: v for k, v in rows.items() if k not in BASELINE_ROWS}
            headline = rows.get(recipe.headline, float("nan"))
            print(f"{name:<32} {minutes:>7.2f} {headline:>8.2f} {rows.get(SUM_RULE, float('nan')):>8.2f} "
                  f"{max(ours.values()):>8.2f} "
                  + " ".join(f"{rows.get(b, float('nan')):>19.2f}" for b in BASELINE_ROWS)
                  + f" {headline - rows['raw-svm-tuned']:>+14.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
