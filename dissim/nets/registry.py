"""Registry of topologies: the packaged layer tables plus any the user adds."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..resources import resource_dir
from .table import Topology, load_topology_file

_USER_TOPOLOGIES: dict[str, Topology] = {}


def register_topology(topology: Topology | str | Path) -> Topology:
    """Make a topology (or a TOML layer-table file) available by its name."""
    if not isinstance(topology, Topology):
        topology = load_topology_file(Path(topology))
    _USER_TOPOLOGIES[topology.name] = topology
    return topology


def _packaged_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(resource_dir("topologies").glob("*.toml"))}


def list_topologies() -> list[str]:
    """Names of all known topologies, packaged ones in natural order (sn1, sn2, …, sn8, …)."""
    names = set(_packaged_files()) | set(_USER_TOPOLOGIES)
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    return (stem, int(digits) if digits else -1, name)


def get_topology(name: str | Path) -> Topology:
    """A topology by registered name, or from a path to a TOML layer table."""
    key = str(name)
    if key in _USER_TOPOLOGIES:
        return _USER_TOPOLOGIES[key]
    files = _packaged_files()
    if key in files:
        return load_topology_file(files[key])
    if key.endswith(".toml") or Path(key).is_file():
        if not Path(key).is_file():
            raise UserError(f"topology file {key} does not exist")
        return load_topology_file(Path(key))
    raise UserError(f"unknown topology {key!r}: known topologies are {', '.join(list_topologies())} "
                    "(or give a path to a .toml layer table)")
