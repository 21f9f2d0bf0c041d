"""Ensemble recipes: which members to train, with which profile, fused into which table.

A recipe is a TOML file (``pipelines/*.toml`` or any path); ``protocol = "ensemble"`` is the default::

    description = "..."
    [profile]                          # settings; --profile NAME takes NAME's instead; CLI flags override
    base = "paper"                     # start from the [profile] of pipelines/paper.toml (optional)
    input_size = 224                   # each topology runs at max(its minimum input, input_size)
    iterations = 3000                  # training steps of every network (--iterations)
    batch_size = 180                   # pairs or triplets per step (--batch-size)
    lr = 1e-4                          # learning rate of the optimizer
    betas = [0.9, 0.99]                # Adam's (and DGrad's) moment decays
    prototypes = [15, 30, 45, 60]      # k per class
    share_network = false              # false: a fresh network per k (the paper); true: one per member
    svm_C = 1000.0                     # the RBF SVM on each dissimilarity space: C
    svm_gamma = 0.1                    # and gamma
    triplet_margin = 1.0               # margin of the triplet loss
    embed_batch_size = 128             # images per forward pass when embedding
    precision = "auto"                 # fp32, bf16, fp16 (CUDA); auto: bf16 where the device is fast at it
    pretrained_precision = "auto"      # the same for ImageNet networks (eCNN, pretrained twins); auto on a CPU:
                                       # fp32 below 128 x 128, bf16 from there where the CPU has bf16 hardware
    pretrained_lr = 1e-3               # learning rate of twins on a pretrained network (default: lr)
    hasc = false                       # Siamese inputs as HASC mosaics (the authors' TextureD option; --hasc)
    max_reruns = 2                     # retrain a network that does not converge, at most this often (default 0)
    converge_ratio = 0.9               # converged: mean loss of the last 10 % of steps <= ratio x the first 10 %
    augmentation = "jitter"            # twins' training images: small shifts, zooms, rotations ("none": as they are)

    [ecnn]                             # fine-tuned ImageNet CNNs (eCNN members; extra dissim[ecnn])
    networks = ["lite0"]               # lite0/lite1/lite2 or torchvision models (none: no eCNN members)
    input_size = 224                   # raised to the network's minimum
    epochs = 20                        # passes over the training fold
    batch_size = 30                    # images per step
    lr = 1e-4                          # learning rate of the pretrained layers
    momentum = 0.9                     # SGD with momentum (MATLAB's sgdm)
    last_layer_lr_factor = 20.0        # the new last layer learns 20x faster
    augmentation = "flips-scale"       # random flips and 1-2x zoom per axis ("none": off)
    init = "pretrained"                # "random": untrained networks, asked for explicitly (--cnn-init)
    weights = ["resnet50=/path/resnet50.pth"]   # weight files by network (--cnn-weights); also for twins

    [members]                          # the grid: topologies x methods x spaces x prototypes
    topologies = ["sn1"]
    methods = ["Cross", "CrossDD", "Triplet"]
    spaces = ["fully", "deeper"]

    [methods]                          # method aliases: a loss with an optimizer (and its options)
    Cross = { loss = "bce", optimizer = "adam" }

    [[fusions]]                        # extra named fusions; filters select members (all k by default)
    name = "all"
    methods = ["Cross", "Triplet"]

    [table]                            # optional grid layout of table.md: cell = row filter AND column filter
    columns = [{ name = "Cross", methods = ["Cross"] }]
    rows = [{ name = "FULLY", spaces = ["fully"] }]

    headline = "FULLY"                 # top level, before the tables: the row the recipe stands by (a row or
                                       # fusion name), fixed before any run; table.md compares it with the baselines

Filters may name ``topologies``, ``methods``, ``losses``, ``optimizers``, ``spaces`` and ``k``; a row
with ``per_topology = true`` is repeated for every topology of the recipe (restricted to it).
eCNN members match ``methods = ["eCNN"]``, ``topologies = [<network>]`` and ``spaces = ["softmax"]``.
A fusion, row or column with ``groups = [{...}, {...}]`` fuses each group (its own filters AND the
outer ones) by the sum rule first, then z-scores the groups' fused scores and sums them: the paper's
"Fusion x-y + eCNN". One with ``fusion = "learned"`` weighs its members by weights chosen on
out-of-fold scores of each training fold (greedy forward selection; never the test fold) instead
of summing them; a table cell is learned when its row or its column is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ...errors import UserError
from ...hardware import PRECISIONS, RunCompute
from ...nets import get_topology, register_topology
from ...nets.pretrained import INITS as PRETRAINED_INITS
from ...nets.pretrained import pretrained_info
from ...optim import resolve_optimizer
from ...settings import parse_settings, read_toml, recipe_path, setting
from ...space import SPACES
from ...train import check_loss
from .selection import Selection, fusions_of, selection, unique_names

SECTIONS = ("profile", "members", "methods", "fusions", "table", "folds", "ecnn", "headline")
ECNN_METHOD = "eCNN"  # the method name of fine-tuned CNN members in filters (methods = ["eCNN"])
# The paper's column names (Table 1) for a loss with an optimizer.
PAPER_METHODS = {"Cross": ("bce", "adam"), "CrossDD": ("bce", "decaydgrad"), "Triplet": ("triplet", "adam")}


@dataclass(frozen=True)
class Profile:
    """Training and evaluation settings shared by all members of a run."""

    input_size: int = setting(224, minimum=1)
    iterations: int = setting(3000, minimum=1)
    batch_size: int = setting(180, minimum=2)
    lr: float = setting(1e-4, positive=True)
    betas: tuple[float, float] = setting((0.9, 0.99), minimum=0.0, below=1.0)
    prototypes: tuple[int, ...] = setting((15, 30, 45, 60), minimum=1, nonempty=True, unique=True)
    share_network: bool = False
    svm_C: float = setting(1000.0, positive=True)
    svm_gamma: float = setting(0.1, positive=True)
    triplet_margin: float = setting(1.0, minimum=0.0)
    embed_batch_size: int = setting(128, minimum=1)
    precision: str = setting("auto", choices=PRECISIONS)  # --precision overrides
    hasc: bool = False  # --hasc overrides
    pretrained_precision: str = setting("auto", choices=PRECISIONS)  # ImageNet networks; auto: see resolve_precision
    pretrained_lr: float | None = setting(None, positive=True)  # twins on a pretrained network (None: lr)
    max_reruns: int = setting(0, minimum=0)
    converge_ratio: float = setting(0.9, positive=True)
    augmentation: str = setting("none", choices=("none", "jitter"))  # of the twins' training images


@dataclass(frozen=True)
class CnnSettings:
    """The eCNN members: ImageNet networks fine-tuned per fold (:class:`dissim.eval.cnn.FineTunedCNN`)."""

    networks: tuple[str, ...] = setting((), unique=True)
    input_size: int = setting(224, minimum=1)
    epochs: int = setting(20, minimum=1)
    batch_size: int = setting(30, minimum=2)
    lr: float = setting(1e-4, positive=True)
    momentum: float = setting(0.9, minimum=0.0, below=1.0)
    last_layer_lr_factor: float = setting(20.0, positive=True)
    augmentation: str = setting("flips-scale", choices=("flips-scale", "none"))
    init: str = setting("pretrained", choices=PRETRAINED_INITS)
    weights: tuple[str, ...] = ()  # "network=path" entries

    def weights_for(self, network: str) -> str | None:
        return dict(entry.split("=", 1) for entry in self.weights).get(network)


@dataclass(frozen=True)
class Method:
    """A loss trained with an optimizer; ``name`` is the alias used in tables (e.g. Cross)."""

    name: str
    loss: str
    optimizer: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def slug(self) -> str:
        """loss-optimizer, as member names spell it (sn1-bce-adam-fully-k15)."""
        return f"{self.loss}-{self.optimizer.replace(':', '.')}"


@dataclass(frozen=True)
class TableLayout:
    rows: tuple[Selection, ...]
    columns: tuple[Selection, ...]


@dataclass(frozen=True)
class EnsembleRecipe:
    name: str
    description: str
    profile: Profile
    topologies: tuple[str, ...]
    methods: tuple[Method, ...]
    spaces: tuple[str, ...]
    fusions: tuple[Selection, ...] = ()
    table: TableLayout | None = None
    folds: tuple[int, ...] | None = None  # 1-based; None = all folds of the protocol
    source: str = ""
    protocol: str = "ensemble"
    ecnn: CnnSettings = CnnSettings()
    headline: str = ""  # the row the recipe stands by, named before any run; the table compares it with the baselines

    @property
    def precision(self) -> str:
        return self.profile.precision

    def with_precision(self, precision: str) -> "EnsembleRecipe":
        """With ``precision`` as asked (``auto`` included) for every network: what names the results folder."""
        return replace(self, profile=replace(self.profile, precision=precision, pretrained_precision=precision))

    def with_compute(self, compute: RunCompute, dims: int = 2) -> "EnsembleRecipe":
        """With the precisions the run resolved: the layer-table twins' and the ImageNet networks'
        (pretrained twins; an eCNN network's own, by its input size, is the run's too)."""
        return replace(self, profile=replace(self.profile, precision=compute.precision(dims=dims),
                                             pretrained_precision=compute.precision(pretrained=True)))

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def load_profile(name_or_path: str, flag: str = "--pipeline", _seen: tuple = ()) -> dict:
    """The [profile] settings of a recipe, merged over those of its ``base`` profile (if any)."""
    path = recipe_path(name_or_path, flag)
    if str(path.resolve()) in _seen:
        raise UserError(f"{path}: profile base loops back on itself")
    own = read_toml(path).get("profile") or {}
    if not isinstance(own, dict):
        raise UserError(f"{path}: [profile] must be a table of settings")
    own = dict(own)
    base = own.pop("base", None)
    inherited = load_profile(base, f"base = {base!r} in {path}", _seen + (str(path.resolve()),)) if base else {}
    return {**inherited, **own}


MEMBER_KEYS = ("topologies", "methods", "spaces")


def _members(raw, where: str) -> dict:
    """The [members] table: lists of names, nothing else."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: [members] must be a table with {', '.join(MEMBER_KEYS)}")
    unknown = set(raw) - set(MEMBER_KEYS)
    if unknown:
        raise UserError(f"{where} [members]: unknown keys {sorted(unknown)}; known: {', '.join(MEMBER_KEYS)}")
    for key, value in raw.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise UserError(f"{where} [members]: {key} must be a non-empty list of names, e.g. {key} = [\"...\"], "
                            f"got {value!r}")
        if len(set(value)) != len(value):
            raise UserError(f"{where} [members]: {key} lists a name twice: {value!r}")
    return raw


def parse(doc: dict, path: Path, profile: str | None = None) -> EnsembleRecipe:
    """Read and validate an ensemble recipe document; ``profile`` (a recipe) replaces its [profile]."""
    where = str(path)
    settings = load_profile(profile, "--profile") if profile else load_profile(str(path))
    profile_obj = parse_settings(Profile, settings, f"{profile or where} [profile]")
    methods_table = dict(PAPER_METHODS)
    options: dict[str, tuple] = {}
    if not isinstance(doc.get("methods") or {}, dict):
        raise UserError(f"{where}: [methods] must be a table of name = {{ loss = \"...\", optimizer = \"...\" }}")
    for name, raw in (doc.get("methods") or {}).items():
        if not isinstance(raw, dict) or not isinstance(raw.get("loss"), str) or not isinstance(raw.get("optimizer"), str):
            raise UserError(f"{where}: method {name} needs loss = \"...\" and optimizer = \"...\"")
        if set(raw) - {"loss", "optimizer", "options"} or not isinstance(raw.get("options", {}), dict):
            raise UserError(f"{where}: method {name} takes loss, optimizer and options = {{ ... }} only")
        methods_table[name] = (raw["loss"], raw["optimizer"])
        options[name] = tuple(sorted((raw.get("options") or {}).items()))
    members = _members(doc.get("members") or {}, where)
    methods = []
    for name in members.get("methods", ["Cross"]):
        if name not in methods_table:
            raise UserError(f"{where}: method {name!r} is not defined; define it under [methods] "
                            f"(known: {', '.join(methods_table)})")
        loss, opt = methods_table[name]
        methods.append(Method(name, loss, opt, options.get(name, ())))
    table = None
    if "table" in doc:
        raw = doc["table"]
        if not isinstance(raw, dict) or set(raw) - {"rows", "columns"} or not all(
                isinstance(raw.get(k, []), list) for k in ("rows", "columns")):
            raise UserError(f"{where}: [table] takes rows = [...] and columns = [...] (lists of filter tables)")
        rows = tuple(selection(r, f"{where} [table] row") for r in raw.get("rows", []))
        cols = tuple(selection(c, f"{where} [table] column") for c in raw.get("columns", [{"name": "accuracy"}]))
        if not rows or not cols:
            raise UserError(f"{where}: [table] needs rows and columns (leave columns out for one accuracy column)")
        unique_names(rows, "[table] rows", where)
        unique_names(cols, "[table] columns", where)
        table = TableLayout(rows=rows, columns=cols)
    folds = doc.get("folds")
    if folds is not None and (not isinstance(folds, list) or not all(
            isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in folds) or len(set(folds)) != len(folds)):
        raise UserError(f"{where}: folds must be a list of distinct fold numbers (1, 2, ...), got {folds!r}")
    ecnn = parse_settings(CnnSettings, doc.get("ecnn") or {}, f"{where} [ecnn]")
    headline = doc.get("headline", "")
    if not isinstance(headline, str):
        raise UserError(f"{where}: headline must be the name of a table row or fusion, got {headline!r}")
    recipe = EnsembleRecipe(
        ecnn=ecnn, name=path.stem, description=doc.get("description", ""), profile=profile_obj,
        topologies=tuple(resolve_topology(t, path.parent) for t in members.get("topologies", ["sn1"])),
        methods=tuple(methods), spaces=tuple(members.get("spaces", ["fully"])),
        fusions=fusions_of(doc.get("fusions", []), where),
        table=table, folds=tuple(folds) if folds is not None else None, source=where, headline=headline)
    if headline and headline not in named_rows(recipe):
        raise UserError(f"{where}: headline = {headline!r} names no row of the table and no [[fusions]] entry; "
                        f"rows: {', '.join(named_rows(recipe))}")
    return check(recipe, where)


def named_rows(recipe: EnsembleRecipe) -> list[str]:
    """The names of the fusion rows the recipe asks for: [[fusions]] entries and the cells of its table."""
    names = [f.name for f in recipe.fusions]
    if recipe.table is not None:
        single = len(recipe.table.columns) == 1
        for r in recipe.table.rows:
            stems = [f"{t} {r.name}" for t in recipe.topologies] if r.per_topology else [r.name]
            names += [stem if single else f"{stem} / {c.name}" for stem in stems for c in recipe.table.columns]
    return names


def check(recipe: EnsembleRecipe, where: str) -> EnsembleRecipe:
    """Every name the recipe uses resolves (topologies, losses, optimizers, spaces)."""
    for space in recipe.spaces:
        if space not in SPACES:
            raise UserError(f"{where}: unknown space {space!r}; known: {', '.join(SPACES.names())}")
    for name in recipe.topologies:
        get_topology(name)
    for method in recipe.methods:
        check_loss(method.loss)
        resolve_optimizer(method.optimizer)
    for entry in recipe.ecnn.weights:
        if "=" not in entry or not all(entry.split("=", 1)):
            raise UserError(f"{where}: eCNN weights entry {entry!r} must read network=path, e.g. resnet50=/w/r50.pth")
    for network in recipe.ecnn.networks:
        pretrained_info(network)  # an unknown network name is an error here
    return replace(recipe, spaces=tuple(SPACES.canonical(s) for s in recipe.spaces))


def resolve_topology(entry: str, base: Path | None = None) -> str:
    """A topology's registered name; a .toml path (relative to ``base`` first) is registered on the way."""
    if not (entry.endswith(".toml") or "/" in entry):
        return entry
    path = Path(entry).expanduser()
    if not path.is_absolute() and base is not None and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise UserError(f"topology file {entry} does not exist")
    return register_topology(path).name


def method_for(loss: str, optimizer: str, options: tuple = ()) -> Method:
    """A method from a loss and an optimizer, named by the paper's alias when there is one."""
    for alias, pair in PAPER_METHODS.items():
        if pair == (loss, optimizer) and not options:
            return Method(alias, loss, optimizer)
    return Method(f"{loss}+{optimizer}", loss, optimizer, options)


def apply_flags(recipe: EnsembleRecipe, flags: dict) -> EnsembleRecipe:
    """The recipe with the command line's selections and profile changes (validated as the file is)."""
    changes = {key: flags[key] for key in ("iterations", "batch_size", "input_size", "prototypes", "share_network",
                                           "hasc") if key in flags}
    profile = parse_settings(Profile, {**asdict(recipe.profile), **changes}, "command line",
                             flags={key: "--" + key.replace("_", "-") for key in changes})
    recipe = replace(recipe, profile=profile)
    if "topologies" in flags:
        recipe = replace(recipe, topologies=tuple(resolve_topology(t) for t in flags["topologies"]))
    if "losses" in flags or "optimizers" in flags:
        losses = flags.get("losses") or list(dict.fromkeys(m.loss for m in recipe.methods))
        optimizers = flags.get("optimizers") or list(dict.fromkeys(m.optimizer for m in recipe.methods))
        recipe = replace(recipe, methods=tuple(method_for(lo, op) for lo in losses for op in optimizers))
    if "spaces" in flags:
        unknown = [s for s in flags["spaces"] if s not in SPACES]
        if unknown:
            raise UserError(f"--spaces {','.join(flags['spaces'])}: unknown {unknown}; known: {', '.join(SPACES.names())}")
        recipe = replace(recipe, spaces=tuple(flags["spaces"]))
    if "folds" in flags:
        recipe = replace(recipe, folds=tuple(flags["folds"]))
    if "cnn_weights" in flags or "cnn_init" in flags:
        cnn = asdict(recipe.ecnn)
        if "cnn_weights" in flags:  # the command line's file for a network replaces the recipe's
            given = {entry.split("=", 1)[0] for entry in flags["cnn_weights"]}
            cnn["weights"] = [w for w in cnn["weights"] if w.split("=", 1)[0] not in given] + list(flags["cnn_weights"])
        if "cnn_init" in flags:
            cnn["init"] = flags["cnn_init"]
        recipe = replace(recipe, ecnn=parse_settings(CnnSettings, cnn, "command line",
                                                     flags={"weights": "--cnn-weights", "init": "--cnn-init"}))
    return check(recipe, "command line")
