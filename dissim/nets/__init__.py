"""Backbones from layer tables, the twin network that embeds, and the Siamese pair head."""

from .backbone import Backbone
from .heads import PairHead
from .registry import TOPOLOGIES, get_topology, list_topologies, register_topology
from .table import LayerShape, Topology, load_topology_file, parse_topology
from .twin import SiameseNet, to_input


def build(name, in_channels: int = 3, input_size: int = 224) -> Backbone:
    """The backbone of topology ``name`` (registered name or TOML path) for this input."""
    return Backbone(get_topology(name), in_channels, input_size)


__all__ = ["Backbone", "LayerShape", "PairHead", "SiameseNet", "TOPOLOGIES", "Topology", "build",
           "get_topology", "list_topologies", "load_topology_file", "parse_topology", "register_topology",
           "to_input"]
