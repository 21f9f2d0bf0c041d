"""Topologies by name: the packaged layer tables plus any the user registers or names by path."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..registry import Registry
from ..resources import resource_dir
from .table import Topology, load_topology_file


def _register_packaged() -> None:
    for path in sorted(resource_dir("topologies").glob("*.toml")):
        TOPOLOGIES.register(path.stem, _Lazy(path))


class _Lazy:
    """A packaged layer table, read when first asked for."""

    def __init__(self, path: Path):
        self.path = path
        self.__doc__ = f"layer table {path.name}"

    def load(self) -> Topology:
        return load_topology_file(self.path)


TOPOLOGIES = Registry("topology", populate=_register_packaged, plural="topologies",
                      path_hint="a path to a .toml layer table")


def register_topology(topology: Topology | str | Path) -> Topology:
    """Make a topology (or a TOML layer-table file) available by its name.

    A name already taken by a different table (a packaged one like sn1, or another file) is refused:
    a table must never say sn1 while running something else. The same table again is fine.
    """
    if not isinstance(topology, Topology):
        topology = load_topology_file(Path(topology))
    if topology.name in TOPOLOGIES:
        known = get_topology(topology.name)
        same = (known.layers, known.dims, known.deeper) == (topology.layers, topology.dims, topology.deeper)
        if not same:
            where = topology.source or "this topology"
            raise UserError(f"{where}: name {topology.name!r} is already taken by "
                            f"{known.source or 'a registered topology'}; give your table another name = \"...\"")
    TOPOLOGIES.register(topology.name, topology, summary=topology.description, replace=True)
    return topology


def list_topologies() -> list[str]:
    """Names of all known topologies, packaged ones in natural order (sn1, sn2, …, sn8, …)."""
    return sorted(TOPOLOGIES.names(), key=_natural_key)


def _natural_key(name: str):
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    return (stem, int(digits) if digits else -1, name)


def get_topology(name: str | Path | Topology) -> Topology:
    """A topology by registered name, or from a path to a TOML layer table (or the Topology itself)."""
    if isinstance(name, Topology):
        return name
    key = str(name)
    if key.endswith(".toml") or "/" in key or Path(key).is_file():
        if not Path(key).expanduser().is_file():
            raise UserError(f"topology file {key} does not exist")
        return load_topology_file(Path(key).expanduser())
    found = TOPOLOGIES.get(key)
    return found.load() if isinstance(found, _Lazy) else found
