"""Recipes: which members to train, with which profile, fused into which table.

A recipe is a TOML file (``pipelines/*.toml`` or any path)::

    description = "..."
    [profile]                          # settings; --profile NAME takes NAME's instead; CLI flags override
    base = "paper"                     # start from the [profile] of pipelines/paper.toml (optional)
    input_size = 224                   # each topology runs at max(its minimum input, input_size)
    iterations = 3000
    batch_size = 180
    lr = 1e-4
    betas = [0.9, 0.99]
    prototypes = [15, 30, 45, 60]      # k per class
    share_network = false              # false: a fresh network per k (the paper); true: one per member
    svm_C = 1000.0
    svm_gamma = 0.1
    triplet_margin = 1.0

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

Filters may name ``topologies``, ``methods``, ``losses``, ``optimizers``, ``spaces`` and ``k``; a row
with ``per_topology = true`` is repeated for every topology of the recipe (restricted to it).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import UserError
from ..resources import resource_dir

SPACES = ("fully", "deeper")
FILTER_KEYS = ("topologies", "methods", "losses", "optimizers", "spaces", "k")
# The paper's column names (Table 1) for a loss with an optimizer.
PAPER_METHODS = {
    "Cross": ("bce", "adam"),
    "CrossDD": ("bce", "decaydgrad"),
    "Triplet": ("triplet", "adam"),
}


@dataclass(frozen=True)
class Profile:
    """Training and evaluation settings shared by all members of a run."""

    input_size: int = 224
    iterations: int = 3000
    batch_size: int = 180
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    prototypes: tuple[int, ...] = (15, 30, 45, 60)
    share_network: bool = False
    svm_C: float = 1000.0
    svm_gamma: float = 0.1
    triplet_margin: float = 1.0
    embed_batch_size: int = 128


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
class Selection:
    """A named set of members: each given filter restricts one member attribute."""

    name: str
    topologies: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    losses: tuple[str, ...] | None = None
    optimizers: tuple[str, ...] | None = None
    spaces: tuple[str, ...] | None = None
    k: tuple[int, ...] | None = None
    per_topology: bool = False

    def matches(self, member) -> bool:
        checks = (("topologies", member.topology), ("methods", member.method.name),
                  ("losses", member.method.loss), ("optimizers", member.method.optimizer),
                  ("spaces", member.space), ("k", member.k))
        return all(getattr(self, key) is None or value in getattr(self, key) for key, value in checks)

    def __and__(self, other: "Selection") -> "Selection":
        merged = {}
        for key in FILTER_KEYS:
            a, b = getattr(self, key), getattr(other, key)
            merged[key] = a if b is None else b if a is None else tuple(x for x in a if x in b)
        return Selection(name=self.name, **merged)


@dataclass(frozen=True)
class TableLayout:
    rows: tuple[Selection, ...]
    columns: tuple[Selection, ...]


@dataclass(frozen=True)
class Recipe:
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

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def list_pipelines() -> list[tuple[str, str]]:
    """(name, description) of the packaged recipes."""
    out = []
    for path in sorted(resource_dir("pipelines").glob("*.toml")):
        try:
            out.append((path.stem, tomllib.loads(path.read_text()).get("description", "")))
        except tomllib.TOMLDecodeError:
            out.append((path.stem, "(unreadable)"))
    return out


def recipe_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise UserError(f"pipeline file {name_or_path} does not exist (--pipeline)")
        return candidate
    packaged = resource_dir("pipelines") / f"{name_or_path}.toml"
    if not packaged.is_file():
        known = ", ".join(n for n, _ in list_pipelines())
        raise UserError(f"unknown pipeline {name_or_path!r} (--pipeline): known pipelines are {known}, "
                        "or give a path to a .toml recipe")
    return packaged


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def load_profile(name_or_path: str, _seen: tuple = ()) -> dict:
    """The [profile] settings of a recipe, merged over those of its ``base`` profile (if any)."""
    path = recipe_path(name_or_path)
    if str(path.resolve()) in _seen:
        raise UserError(f"{path}: profile base loops back on itself")
    own = dict(_read_toml(path).get("profile") or {})
    base = own.pop("base", None)
    inherited = load_profile(base, _seen + (str(path.resolve()),)) if base else {}
    return {**inherited, **own}


def make_profile(settings: dict, where: str) -> Profile:
    known = {f.name for f in fields(Profile)}
    unknown = set(settings) - known
    if unknown:
        raise UserError(f"{where}: unknown profile settings {sorted(unknown)}; known: {sorted(known)}")
    values = dict(settings)
    for key in ("betas", "prototypes"):
        if key in values:
            values[key] = tuple(values[key])
    profile = Profile(**values)
    _check_profile(profile, where)
    return profile


def _check_profile(p: Profile, where: str) -> None:
    positive = {"input_size": p.input_size, "iterations": p.iterations, "batch_size": p.batch_size,
                "embed_batch_size": p.embed_batch_size}
    for key, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{where}: {key} must be a positive integer, got {value!r}")
    if p.batch_size < 2:
        raise UserError(f"{where}: batch_size must be at least 2 (half same-class, half different-class pairs)")
    if not p.prototypes or any(not isinstance(k, int) or k < 1 for k in p.prototypes):
        raise UserError(f"{where}: prototypes must be positive integers (k per class), got {list(p.prototypes)}")
    if not (p.lr > 0):
        raise UserError(f"{where}: lr must be positive, got {p.lr}")
    if len(p.betas) != 2 or not all(0 <= b < 1 for b in p.betas):
        raise UserError(f"{where}: betas must be two numbers in [0, 1), got {list(p.betas)}")


def _selection(raw: dict, where: str, default_name: str = "") -> Selection:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a table of filters, got {raw!r}")
    unknown = set(raw) - set(FILTER_KEYS) - {"name", "per_topology"}
    if unknown:
        raise UserError(f"{where}: unknown filter keys {sorted(unknown)}; known: {', '.join(FILTER_KEYS)}")
    values = {key: tuple(raw[key]) if key in raw else None for key in FILTER_KEYS}
    name = raw.get("name", default_name)
    if not name:
        raise UserError(f"{where}: every fusion, row and column needs a name")
    return Selection(name=name, per_topology=bool(raw.get("per_topology", False)), **values)


def load_recipe(name_or_path: str, profile: str | None = None) -> Recipe:
    """Read and validate a recipe (packaged name or TOML path); ``profile`` replaces its [profile]."""
    path = recipe_path(name_or_path)
    doc = _read_toml(path)
    where = str(path)
    unknown = set(doc) - {"description", "profile", "members", "methods", "fusions", "table", "folds"}
    if unknown:
        raise UserError(f"{where}: unknown recipe keys {sorted(unknown)}")
    profile = make_profile(load_profile(profile or str(path)), f"{where} [profile]" if not profile else profile)
    methods_table = {name: (loss, opt) for name, (loss, opt) in PAPER_METHODS.items()}
    options: dict[str, tuple] = {}
    for name, raw in (doc.get("methods") or {}).items():
        if not isinstance(raw, dict) or "loss" not in raw or "optimizer" not in raw:
            raise UserError(f"{where}: method {name} needs loss = \"...\" and optimizer = \"...\"")
        methods_table[name] = (raw["loss"], raw["optimizer"])
        options[name] = tuple(sorted((raw.get("options") or {}).items()))
    members = doc.get("members") or {}
    method_names = members.get("methods", ["Cross"])
    methods = []
    for name in method_names:
        if name not in methods_table:
            raise UserError(f"{where}: method {name!r} is not defined; define it under [methods] "
                            f"(known: {', '.join(methods_table)})")
        loss, opt = methods_table[name]
        methods.append(Method(name, loss, opt, options.get(name, ())))
    table = None
    if "table" in doc:
        raw = doc["table"]
        rows = tuple(_selection(r, f"{where} [table] row") for r in raw.get("rows", []))
        cols = tuple(_selection(c, f"{where} [table] column") for c in raw.get("columns", [{"name": "accuracy"}]))
        if not rows:
            raise UserError(f"{where}: [table] needs rows")
        table = TableLayout(rows=rows, columns=cols)
    spaces = tuple(members.get("spaces", ["fully"]))
    for space in spaces:
        if space not in SPACES:
            raise UserError(f"{where}: unknown space {space!r}; known: {', '.join(SPACES)}")
    return Recipe(
        name=path.stem, description=doc.get("description", ""), profile=profile,
        topologies=tuple(resolve_topology(t, path.parent) for t in members.get("topologies", ["sn1"])),
        methods=tuple(methods), spaces=spaces,
        fusions=tuple(_selection(f, f"{where} [[fusions]]") for f in doc.get("fusions", [])),
        table=table, folds=tuple(doc["folds"]) if "folds" in doc else None, source=str(path))


def resolve_topology(entry: str, base: Path | None = None) -> str:
    """A topology's registered name; a .toml path (relative to ``base`` first) is registered on the way."""
    from ..nets import register_topology

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
