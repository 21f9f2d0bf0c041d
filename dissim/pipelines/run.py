"""The command line: ``python -m dissim.pipelines.run``.

With no arguments: the embedded ``digits`` data set and the ``quick`` pipeline (CPU-sized).
Errors a user can cause exit with status 2 and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import UserError
from .recipe import SPACES, load_recipe, method_for, resolve_topology

LISTABLE = ("datasets", "topologies", "pipelines", "optimizers", "losses")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, status 2
        raise UserError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dissim.pipelines.run",
                description="Train Siamese members, build dissimilarity spaces, score SVMs and fuse them into a table.")
    p.add_argument("--dataset", default="digits", help="registered data set (see --list datasets); default digits")
    p.add_argument("--data-root", help="path of the data (folder or zip) for data sets that are not embedded")
    p.add_argument("--pipeline", default="quick", help="recipe name (see --list pipelines) or path to a .toml")
    p.add_argument("--profile", help="take the profile (sizes, iterations, k) of this recipe, e.g. quick or paper")
    p.add_argument("--topologies", help="e.g. 1,3-5 (numbers mean sn1..sn8) or names/paths of layer tables")
    p.add_argument("--losses", help="comma list, e.g. bce,triplet (with --optimizers: their product)")
    p.add_argument("--optimizers", help="comma list: adam, dgrad, decaydgrad, a registered name or pkg.module:Factory")
    p.add_argument("--spaces", help="fully, deeper or fully,deeper")
    p.add_argument("--prototypes", help="k per class, e.g. 15,30")
    p.add_argument("--folds", help="which folds to run, e.g. 1,2 (default: all)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--jobs", type=int, default=1, help="trainings run in parallel (default 1)")
    p.add_argument("--threads", type=int, help="torch CPU threads per training (default: cores / jobs); "
                   "results are bit-identical only for the same thread count")
    p.add_argument("--backend", default="loky", choices=["loky", "dask", "ray"], help="joblib backend")
    p.add_argument("--scheduler", help="address of an existing dask scheduler / ray cluster")
    p.add_argument("--seed", type=int, default=1, help="seeds everything (default 1)")
    p.add_argument("--iterations", type=int, help="override the profile's training iterations")
    p.add_argument("--batch-size", type=int, help="override the profile's batch size (pairs or triplets)")
    p.add_argument("--input-size", type=int, help="override the profile's input size (raised to each topology's minimum)")
    p.add_argument("--share-network", choices=["yes", "no"], help="one network serves all k (yes) or one per k (no)")
    p.add_argument("--out", type=Path, help="output folder (default results/<dataset>/<pipeline>/)")
    p.add_argument("--dry-run", action="store_true", help="print the members, their count and cost, then stop")
    p.add_argument("--fuse-only", action="store_true", help="rebuild the tables from cached members, no training")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--list", choices=LISTABLE, help="list what is available and exit")
    return p


def parse_int_list(text: str, flag: str) -> list[int]:
    """'1,3-5' -> [1, 3, 4, 5]."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                values.extend(range(lo, hi + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise UserError(f"{flag} {text!r}: expected numbers like 1,3-5") from None
    return values


def parse_topologies(text: str) -> list[str]:
    names = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part[0].isdigit():
            names += [f"sn{n}" for n in parse_int_list(part, "--topologies")]
        else:
            names.append(resolve_topology(part))
    return names


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def apply_overrides(recipe, args):
    """The recipe with the command line's selections and profile overrides applied (validated)."""
    from ..nets import get_topology
    from ..optim import resolve_optimizer
    from ..train import check_loss

    profile = recipe.profile
    changes = {}
    if args.iterations is not None:
        changes["iterations"] = args.iterations
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.input_size is not None:
        changes["input_size"] = args.input_size
    if args.prototypes:
        changes["prototypes"] = tuple(parse_int_list(args.prototypes, "--prototypes"))
    if args.share_network:
        changes["share_network"] = args.share_network == "yes"
    for key, flag in (("iterations", "--iterations"), ("batch_size", "--batch-size"), ("input_size", "--input-size")):
        if key in changes and changes[key] < (2 if key == "batch_size" else 1):
            raise UserError(f"{flag} {changes[key]}: must be at least {2 if key == 'batch_size' else 1}")
    if any(k < 1 for k in changes.get("prototypes", (1,))):
        raise UserError("--prototypes: k must be positive")
    recipe = replace(recipe, profile=replace(profile, **changes))
    if args.topologies:
        recipe = replace(recipe, topologies=tuple(parse_topologies(args.topologies)))
    if args.losses or args.optimizers:
        losses = _split(args.losses) if args.losses else list(dict.fromkeys(m.loss for m in recipe.methods))
        optimizers = _split(args.optimizers) if args.optimizers else list(dict.fromkeys(m.optimizer for m in recipe.methods))
        recipe = replace(recipe, methods=tuple(method_for(l, o) for l in losses for o in optimizers))
    if args.spaces:
        spaces = tuple(_split(args.spaces))
        bad = [s for s in spaces if s not in SPACES]
        if bad:
            raise UserError(f"--spaces {args.spaces!r}: unknown {bad}; use fully, deeper or fully,deeper")
        recipe = replace(recipe, spaces=spaces)
    if args.folds:
        recipe = replace(recipe, folds=tuple(parse_int_list(args.folds, "--folds")))
    for name in recipe.topologies:
        get_topology(name)
    for method in recipe.methods:
        check_loss(method.loss)
        resolve_optimizer(method.optimizer)
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be at least 1")
    return recipe


def print_list(what: str) -> None:
    if what == "datasets":
        from ..data import list_datasets
        for name, summary in list_datasets():
            print(f"{name:<10} {summary}")
    elif what == "pipelines":
        from .recipe import list_pipelines
        for name, description in list_pipelines():
            print(f"{name:<14} {description}")
    elif what == "optimizers":
        from ..optim import list_optimizers
        print("\n".join(list_optimizers()))
    elif what == "losses":
        from ..train import list_losses
        print("\n".join(list_losses()))
    elif what == "topologies":
        from .listing import topology_listing
        print(topology_listing())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        if args.list:
            print_list(args.list)
            return 0
        from ..oneshot.recipe import is_oneshot_file
        from .recipe import recipe_path

        if is_oneshot_file(recipe_path(args.pipeline)):  # kind = "oneshot": spectra, unseen classes
            from ..oneshot.run import run_oneshot

            out = run_oneshot(recipe_path(args.pipeline), args, argv)
            if out is not None:
                print(f"wrote {out / 'table.md'}")
                print((out / "table.md").read_text())
            return 0
        from .experiment import RunOptions, run_experiment

        recipe = apply_overrides(load_recipe(args.pipeline, profile=args.profile), args)
        options = RunOptions(dataset=args.dataset, data_root=args.data_root, seed=args.seed, device=args.device,
                             jobs=args.jobs, threads=args.threads, backend=args.backend, scheduler=args.scheduler, out=args.out,
                             fuse_only=args.fuse_only, dry_run=args.dry_run,
                             progress=not args.no_progress and sys.stderr.isatty(),
                             command=["python -m dissim.pipelines.run", *argv])
        out = run_experiment(recipe, options)
        if not args.dry_run:
            print(f"wrote {out / 'table.md'}")
            print((out / "table.md").read_text())
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished members are cached; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
