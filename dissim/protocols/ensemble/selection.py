"""Selections of ensemble members: the filters of a recipe's fusions, table rows and columns, and
how their TOML tables are read and checked."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...errors import UserError

FILTER_KEYS = ("topologies", "methods", "losses", "optimizers", "spaces", "k")
# "sum": the paper's sum rule of z-scored scores; "learned": member weights chosen on out-of-fold scores of
# each training fold (dissim.eval.fusion.forward_selection)
FUSIONS = ("sum", "learned")


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
    groups: tuple["Selection", ...] = ()  # fused one by one, then their z-scored sums are summed
    fusion: str = "sum"  # "learned": member weights chosen on each training fold (FUSIONS)

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
        groups = self.groups or other.groups
        if self.groups and other.groups:
            groups = tuple(g & h for g in self.groups for h in other.groups)
        fusion = "learned" if "learned" in (self.fusion, other.fusion) else "sum"
        return Selection(name=self.name, groups=groups, fusion=fusion, **merged)

    def group_selections(self) -> tuple["Selection", ...]:
        """The groups to fuse one by one (each restricted by this selection's own filters); none: itself."""
        return tuple(replace(self, groups=()) & g for g in self.groups)


def selection(raw: dict, where: str, nested: bool = False) -> Selection:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a table of filters, got {raw!r}")
    unknown = set(raw) - set(FILTER_KEYS) - {"name", "per_topology", "groups", "fusion"}
    if unknown:
        raise UserError(f"{where}: unknown filter keys {sorted(unknown)}; known: {', '.join(FILTER_KEYS)}")
    for key in FILTER_KEYS:
        kind, words = (int, "whole numbers") if key == "k" else (str, "names")
        if key in raw and (not isinstance(raw[key], list) or not all(
                isinstance(v, kind) and not isinstance(v, bool) and v != "" for v in raw[key])):
            raise UserError(f"{where}: filter {key} must be a list of {words}, got {raw[key]!r}")
    values = {key: tuple(raw[key]) if key in raw else None for key in FILTER_KEYS}
    name = raw.get("name", "group" if nested else "")
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{where}: every fusion, row and column needs a name (a non-empty string), got {name!r}")
    if any(c in name for c in "|\n\r"):
        raise UserError(f"{where}: name {name!r} holds '|' or a line break, which table.md cannot show; rename it")
    if not isinstance(raw.get("per_topology", False), bool):
        raise UserError(f"{where} {name!r}: per_topology must be true or false, got {raw['per_topology']!r}")
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or (nested and groups):
        raise UserError(f"{where}: groups must be a list of filter tables (one level: groups hold no groups)")
    fusion = raw.get("fusion", "sum")
    if fusion not in FUSIONS:
        raise UserError(f"{where} {name!r}: fusion = {fusion!r}; use {' or '.join(map(repr, FUSIONS))}")
    if fusion == "learned" and (groups or nested):
        raise UserError(f"{where} {name!r}: a learned fusion weighs its members itself; it takes no groups")
    return Selection(name=name, per_topology=raw.get("per_topology", False), fusion=fusion,
                     groups=tuple(selection(g, f"{where} group", nested=True) for g in groups), **values)


def unique_names(selections: tuple[Selection, ...], what: str, where: str) -> None:
    names = [s.name for s in selections]
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise UserError(f"{where}: two {what} are named {twice!r}; give each its own name")


def fusions_of(raw, where: str) -> tuple[Selection, ...]:
    fusions = tuple(selection(f, f"{where} [[fusions]]") for f in _list(raw, "[[fusions]]", where))
    unique_names(fusions, "[[fusions]]", where)
    return fusions


def _list(value, what: str, where: str) -> list:
    if not isinstance(value, list):
        raise UserError(f"{where}: {what} must be an array of tables, got {value!r}")
    return value


def check_fusions(recipe, members: list, taken: set[str]) -> None:
    """Every [[fusions]] entry (and each of its groups) selects members of this run, under a name no
    member or baseline row has; UserError naming the first that does not (checked before any work)."""
    for fusion in recipe.fusions:
        parts = fusion.group_selections() or (fusion,)
        for part in parts:
            if not any(part.matches(m) for m in members):
                shown = {k: list(getattr(part, k)) for k in ("topologies", "methods", "losses", "optimizers", "spaces",
                                                              "k") if getattr(part, k) is not None}
                raise UserError(f"{recipe.source}: [[fusions]] {fusion.name!r} selects no member of this run "
                                f"{'in one of its groups ' if fusion.groups else ''}(filters {shown}); the run's "
                                f"members are {', '.join(m.name for m in members)}: fix the filters or remove it")
        if fusion.name in taken:
            raise UserError(f"{recipe.source}: [[fusions]] {fusion.name!r} has the name of a member or baseline row; "
                            "rename it")
