"""Score Siamese settings on the VALIDATION classes of the one-shot partitions (never the test ones).

    python tools/oneshot_validation.py NAME '{"augment": true}' [--partitions 5] [--als] [--seed 1]

Trains ``SiameseMatcher(**defaults, **settings)`` on the training classes of each partition (the
same partitions as ``--pipeline oneshot --seed 1``), early-stopped on the validation classes as the
protocol does, and reports for each partition:

- ``loo``: the validation ranking accuracy of the epoch kept (leave-one-out nearest neighbour
  among the validation spectra; what early stopping maximises, so it flatters the Siamese rows);
- ``oneshot``: the protocol's own task on the validation classes, one random reference per class
  and every other validation spectrum a query, averaged over 20 reference draws.

The baselines' ``oneshot`` on the same draws comes with ``--baselines``. One line of JSON per run is
appended to ``--log`` (default ``oneshot-validation.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dissim.data import load_dataset  # noqa: E402
from dissim.data.splits import make_partitions  # noqa: E402
from dissim.eval.matchers import create_matcher  # noqa: E402
from dissim.protocols.base import task_seed  # noqa: E402
from dissim.protocols.oneshot.settings import OneShotSettings, preprocessings  # noqa: E402

DRAWS = 20


def oneshot_on_validation(similarity: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Mean accuracy over DRAWS random choices of one reference per class (others are queries)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    scores = []
    for _ in range(DRAWS):
        refs = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes])
        queries = np.setdiff1d(np.arange(len(labels)), refs)
        predicted = labels[refs][np.argmax(similarity[np.ix_(queries, refs)], axis=1)]
        scores.append(np.mean(predicted == labels[queries]))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("settings", nargs="?", default="{}")
    parser.add_argument("--partitions", type=int, default=5)
    parser.add_argument("--als", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baselines", action="store_true")
    parser.add_argument("--log", default="oneshot-validation.jsonl")
    args = parser.parse_args()
    settings = json.loads(args.settings)
    members = settings.pop("ensemble", 1)
    data = load_dataset("rruff-ir")
    s = OneShotSettings()
    x = preprocessings(s)[args.als](data.spectra)
    y = data.labels
    method = "siamese-als" if args.als else "siamese"
    rows = {"siamese": [], "loo": [], "epochs": []}
    if args.baselines:
        rows.update({"nn-cosine": [], "nn-l2": [], "lmnn": []})
    start = time.perf_counter()
    for p in make_partitions(y, args.partitions, args.seed, fractions=s.fractions):
        xv, yv = x[p.val_index], y[p.val_index]
        similarity, loo, epochs = 0, [], []
        for member in range(members):
            params = {"topology": s.topology, "epochs": s.epochs, "batch_size": s.batch_size, "lr": s.lr,
                      "lr_halving_epochs": s.lr_halving_epochs, "patience": s.patience, "validation_fraction": 0.0,
                      "device": "cpu", "random_state": task_seed(args.seed, p.number, method) + member, **settings}
            matcher = create_matcher("siamese", **params).fit(x[p.train_index], y[p.train_index], validation=(xv, yv))
            similarity = similarity + matcher.similarity(xv, xv)
            h = matcher.history_
            loo.append(h.val_ranking[h.best_epoch - 1])
            epochs.append(len(h.train_loss))
        rows["siamese"].append(oneshot_on_validation(similarity, yv, p.number))
        rows["loo"].append(float(np.mean(loo)))
        rows["epochs"].append(float(np.mean(epochs)))
        if args.baselines:
            for name, extra in (("nn-cosine", {}), ("nn-l2", {}), ("lmnn", {"pca_components": s.lmnn_pca})):
                m = create_matcher(name, **extra).fit(x[p.train_index], y[p.train_index])
                rows[name].append(oneshot_on_validation(m.similarity(xv, xv), yv, p.number))
    seconds = time.perf_counter() - start
    summary = {k: round(100 * float(np.mean(v)), 2) if k != "epochs" else round(float(np.mean(v)), 1)
               for k, v in rows.items()}
    record = {"name": args.name, "als": args.als, "settings": settings, "ensemble": members, "mean": summary,
              "per_partition": {k: [round(100 * v, 2) if k != "epochs" else v for v in vs] for k, vs in rows.items()},
              "seconds": round(seconds, 1)}
    with open(args.log, "a") as log:
        log.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
