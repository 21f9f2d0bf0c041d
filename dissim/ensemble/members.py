"""Members, training units and the plan of a run.

A *member* is (topology, method = loss + optimizer, space, k): one SVM's scores per fold.
A *training unit* is the trained network several members share: one (topology, method) with the
k values it serves (one k each for a fresh network per k, as the paper; all k with
``share_network``). Both spaces come from one embedding pass of the unit's network.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pipelines.recipe import Method, Recipe


@dataclass(frozen=True)
class Member:
    topology: str
    method: Method
    space: str
    k: int

    @property
    def name(self) -> str:
        return f"{self.topology}-{self.method.slug}-{self.space}-k{self.k}"


@dataclass(frozen=True)
class TrainingUnit:
    topology: str
    method: Method
    ks: tuple[int, ...]

    @property
    def name(self) -> str:
        ks = "+".join(str(k) for k in self.ks)
        return f"{self.topology}-{self.method.slug}-k{ks}"


def plan_members(recipe: Recipe) -> list[Member]:
    """Every member of the recipe's grid, topology-major, in recipe order."""
    return [Member(t, m, s, k) for t in recipe.topologies for m in recipe.methods
            for k in recipe.profile.prototypes for s in recipe.spaces]


def plan_units(recipe: Recipe) -> list[TrainingUnit]:
    """The networks to train: one per (topology, method, k), or per (topology, method) when shared."""
    ks = recipe.profile.prototypes
    groups = [ks] if recipe.profile.share_network else [(k,) for k in ks]
    return [TrainingUnit(t, m, g) for t in recipe.topologies for m in recipe.methods for g in groups]


def unit_of(member: Member, units: list[TrainingUnit]) -> TrainingUnit:
    for unit in units:
        if unit.topology == member.topology and unit.method == member.method and member.k in unit.ks:
            return unit
    raise KeyError(member.name)
