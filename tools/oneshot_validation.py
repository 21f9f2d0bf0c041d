"""Score a one-shot recipe on the VALIDATION classes of its partitions (never the test ones).

    python tools/oneshot_validation.py NAME ['{"setting": value, ...}'] [--pipeline oneshot]
                                       [--partitions 5] [--seed 1] [--log FILE]

Plans the recipe (``--pipeline``, with the JSON's settings replacing its own) exactly as
``python -m dissim.pipelines.run --pipeline ...`` does, and runs every task (each method on each
partition, the networks trained on the same items as in the run) with the partition's validation
classes in place of its test classes: each row then scores the protocol's own task on the
validation classes, one random reference per class and every other validation spectrum a query,
averaged over 20 reference draws (a fused row z-scores its members on each draw's references, as
the run does). The test classes never choose anything. A network that stops early on the
validation classes (``early_stopping`` "ranking" or "loss") picks its epoch on the same classes,
which flatters its rows; ``early_stopping = "none"`` does not.

Results are cached under $DISSIM_CACHE/oneshot-validation (a row shared by two candidates is
computed once); one line of JSON per run is appended to ``--log`` (default oneshot-validation.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dissim.data import load_dataset  # noqa: E402
from dissim.eval.matchers.sum_rule import fuse_similarities  # noqa: E402
from dissim.experiment.cache import ResultCache  # noqa: E402
from dissim.experiment.recipe import load_recipe  # noqa: E402
from dissim.hardware import RunCompute  # noqa: E402
from dissim.protocols import PROTOCOLS, RunOptions  # noqa: E402
from dissim.protocols.oneshot.settings import RECIPES, fusion_members  # noqa: E402
from dissim.protocols.oneshot.task import row_outcome  # noqa: E402
from dissim.settings import parse_settings  # noqa: E402
from dissim.storage import cache_root, stable_hash  # noqa: E402

DRAWS = 20


def oneshot_on_validation(similarities: list[np.ndarray], labels: np.ndarray, seed: int) -> float:
    """Mean accuracy over DRAWS random choices of one reference per class (the others are queries),
    the members' similarities (items x items) fused by the run's sum rule when there are several."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    scores = []
    for _ in range(DRAWS):
        refs = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes])
        queries = np.setdiff1d(np.arange(len(labels)), refs)
        parts = [np.asarray(s, np.float64) for s in similarities]
        fused = (fuse_similarities([s[np.ix_(queries, refs)] for s in parts], [s[np.ix_(refs, refs)] for s in parts])
                 if len(parts) > 1 else parts[0][np.ix_(queries, refs)])
        predicted = labels[refs][np.argmax(fused, axis=1)]
        scores.append(np.mean(predicted == labels[queries]))
    return float(np.mean(scores))


def on_validation(task):
    """The task with the partition's validation items as both references and queries (every row
    keeps its items x items similarity; no figure features)."""
    p = task.partition
    partition = replace(p, reference_index=p.val_index, query_index=p.val_index)
    return replace(task, partition=partition, keep_similarities=True, keep_embeddings=False,
                   key=stable_hash({"validation": 1, "task": task.key}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("settings", nargs="?", default="{}")
    parser.add_argument("--pipeline", default="oneshot")
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", default="oneshot-validation.jsonl")
    args = parser.parse_args()
    changes = json.loads(args.settings)
    if args.partitions:
        changes["partitions"] = args.partitions
    recipe = load_recipe(args.pipeline)
    settings = RECIPES.check(parse_settings(type(recipe.settings), {**asdict(recipe.settings), **changes}, "settings"),
                             "settings")
    recipe = replace(recipe, settings=settings)
    protocol = PROTOCOLS.get("oneshot")
    data = load_dataset("rruff-ir")
    compute = RunCompute.resolve("cpu", settings.precision, jobs=1, threads=protocol.threads_per_task(recipe))
    plan = protocol.plan(recipe, data, RunOptions(seed=args.seed, device="cpu", progress=False, jobs=1, compute=compute))
    tasks = protocol.prepare(plan, [on_validation(t) for t in plan.tasks])
    cache = ResultCache(cache_root() / "oneshot-validation")
    start = time.perf_counter()
    results = {}
    for task in tasks:
        results[task.key] = cache.load(task.key)
        if results[task.key] is None:
            results[task.key] = task.run()
            cache.save(task.key, results[task.key])
        print(f"partition {task.partition.number} {task.method}: done", file=sys.stderr, flush=True)
    rows: dict[str, list[float]] = {}
    for p in plan.partitions:
        labels = data.labels[p.val_index]
        similarity = {row: row_outcome(results[t.key], row)["similarity"]
                      for t in tasks if t.partition.number == p.number for row in t.rows}
        for row in settings.methods:
            members = fusion_members(row) or [row]
            score = oneshot_on_validation([similarity[m] for m in members], labels, p.number)
            rows.setdefault(row, []).append(round(100 * score, 2))
    record = {"name": args.name, "pipeline": args.pipeline, "settings": changes,
              "mean": {row: round(float(np.mean(v)), 2) for row, v in rows.items()}, "per_partition": rows,
              "seconds": round(time.perf_counter() - start, 1)}
    with open(args.log, "a") as log:
        log.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
