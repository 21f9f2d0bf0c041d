"""Layer tables: the MATLAB-style list of layers that defines a backbone, read from TOML.

A table is a list of layers, each a small dict (``type`` plus its settings). From the table alone
we infer every layer's output shape and learnable count for a given input, the smallest valid
input, and the FLOPs of a forward pass, without building torch modules.

TOML format (see ``topologies/sn1.toml``)::

    name = "sn1"
    dims = 2                 # 2: images (C, H, W); 1: signals (C, L)
    deeper = "relu4"         # the layer whose output feeds DEEPER
    layers = [
      { name = "conv1", type = "conv", filters = 64, kernel = 10 },   # stride 1, padding 0
      { name = "relu1", type = "relu" },
      { name = "pool1", type = "maxpool", kernel = 2, stride = 2 },
      { name = "fc", type = "fc", units = 4096 },
    ]

Layer types and settings (defaults as MATLAB's):
    conv       filters, kernel, stride=1, padding=0, groups=1, bias=true, init="narrow-normal"
               (grouped convolution: ``groups`` splits input and output channels as torch does)
    relu
    leakyrelu  slope=0.01
    maxpool    kernel, stride=kernel, padding=0
    dropout    p=0.5
    batchnorm
    flatten
    fc         units, bias=true, init="narrow-normal" (flattens its input)
    pretrained network, weights="", init="pretrained": an ImageNet network (dissim.nets.pretrained)
               on raw 0-255 pixels, first layer only; EfficientNet-Lite gives its last conv map,
               torchvision models their pooled feature vector
    gap        global average pooling of a conv map into a vector
``init`` is "narrow-normal" (N(0, 0.01) weights and biases, the authors' choice), "glorot"
(Glorot-uniform weights, zero bias: MATLAB's default), "xavier" (alias of "glorot") or "he"
(weights N(0, 2/fan-in), biases N(0.5, 2/fan-in), as Borsani 2023).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..errors import UserError
from .pretrained import INITS as PRETRAINED_INITS
from .pretrained import (
    pretrained_forward_flops,
    pretrained_info,
    pretrained_parameter_count,
)

LAYER_SETTINGS = {
    "conv": {"filters", "kernel", "stride", "padding", "groups", "bias", "init"},
    "relu": set(),
    "leakyrelu": {"slope"},
    "maxpool": {"kernel", "stride", "padding"},
    "dropout": {"p"},
    "batchnorm": set(),
    "flatten": set(),
    "fc": {"units", "bias", "init"},
    "pretrained": {"network", "weights", "init"},
    "gap": set(),
}
INITS = {"narrow-normal", "glorot", "xavier", "he"}
FLAT_TAIL = ("dropout", "batchnorm", "relu", "leakyrelu")  # layers that may follow the embedding's fc
_MAX_INPUT_SEARCH = 1 << 16
_MODULE = nn.Sequential()  # layer names must not shadow its attributes (torch's add_module refuses them)


@dataclass(frozen=True)
class LayerShape:
    """One layer's output at a given input: shape (without batch), learnables, forward FLOPs."""

    name: str
    type: str
    shape: tuple[int, ...]
    learnables: int
    flops: int


@dataclass(frozen=True)
class Topology:
    """A backbone described by a layer table; build it with :func:`dissim.nets.build`."""

    name: str
    layers: tuple[dict, ...]
    dims: int = 2
    deeper: str | None = None
    description: str = ""
    source: Path | None = field(default=None, compare=False)

    @property
    def pretrained_network(self) -> str | None:
        """The ImageNet network of the table's pretrained first layer (None: built from scratch)."""
        first = self.layers[0] if self.layers else {}
        return first.get("network") if first.get("type") == "pretrained" else None

    # -- shape inference -------------------------------------------------------------------
    def layer_shapes(self, in_channels: int, input_size: int, costs: bool = True) -> list[LayerShape]:
        """Output shape, learnable count and FLOPs of every layer; raises on a too small input.
        ``costs=False`` leaves a pretrained layer's learnables and FLOPs at 0 (they take a model to count)."""
        shapes, problem = self._infer(in_channels, input_size, costs)
        if problem is not None:
            minimum = self.min_input_size(in_channels)
            raise UserError(
                f"topology {self.name} needs an input of at least {minimum} "
                f"{'samples' if self.dims == 1 else 'x ' + str(minimum) + ' pixels'}; "
                f"got {input_size} ({problem}): use a larger input size or another topology"
            )
        return shapes

    def _infer(self, in_channels: int, input_size: int, costs: bool = False) -> tuple[list[LayerShape], str | None]:
        channels, spatial = in_channels, [input_size] * self.dims
        flat: int | None = None  # set once a flatten/fc has collapsed the spatial dimensions
        out: list[LayerShape] = []
        for layer in self.layers:
            kind, name = layer["type"], layer["name"]
            learn = flops = 0
            if kind in ("conv", "maxpool"):
                if flat is not None:
                    return out, f"{name} follows a flattened layer"
                k, s, p = layer["kernel"], layer.get("stride", 1 if kind == "conv" else layer["kernel"]), layer.get("padding", 0)
                spatial = [(n + 2 * p - k) // s + 1 for n in spatial]
                if min(spatial) < 1:
                    return out, f"{name} would have no output"
                if kind == "conv":
                    groups = layer.get("groups", 1)
                    if channels % groups:
                        plural = "s" if channels > 1 else ""
                        return out, f"{name}: {channels} input channel{plural} do not split into {groups} groups"
                    fan_in = (channels // groups) * k**self.dims
                    channels = layer["filters"]
                    bias = channels if layer.get("bias", True) else 0
                    learn = fan_in * channels + bias
                    flops = 2 * fan_in * channels * math.prod(spatial)
            elif kind == "fc":
                n_in = flat if flat is not None else channels * math.prod(spatial)
                flat = layer["units"]
                learn = n_in * flat + (flat if layer.get("bias", True) else 0)
                flops = 2 * n_in * flat
            elif kind == "flatten":
                if flat is None:
                    flat = channels * math.prod(spatial)
            elif kind == "gap":
                if flat is not None:
                    return out, f"{name} follows a flattened layer"
                flat = channels
            elif kind == "pretrained":
                info = pretrained_info(layer["network"])
                if input_size < info.min_size:
                    return out, f"{layer['network']} needs at least {info.min_size} pixels"
                shape = info.output_shape(input_size)
                channels, spatial = shape[0], list(shape[1:])
                flat = None if info.feature_map else shape[0]
                if costs:
                    learn = pretrained_parameter_count(layer["network"])
                    flops = pretrained_forward_flops(layer["network"], in_channels, input_size)
            elif kind == "batchnorm":
                learn = 2 * (flat if flat is not None else channels)
            shape = (flat,) if flat is not None else (channels, *spatial)
            out.append(LayerShape(name, kind, shape, learn, flops))
        return out, None

    def min_input_size(self, in_channels: int = 1) -> int:
        """Smallest input side (or length) for which every layer has an output."""
        problem = self._infer(in_channels, _MAX_INPUT_SEARCH)[1]
        if problem is not None and "groups" in problem:  # no input size helps
            kind = "grey images" if in_channels == 1 and self.dims == 2 else f"{in_channels}-channel inputs"
            raise UserError(f"topology {self.name} cannot take {kind}: {problem}; give that layer groups that "
                            f"divide {in_channels}, or inputs with more channels")
        lo, hi = 1, 1
        while self._infer(in_channels, hi)[1] is not None:
            lo, hi = hi + 1, hi * 2
            if hi > _MAX_INPUT_SEARCH:
                raise UserError(f"topology {self.name} has no valid input size up to {_MAX_INPUT_SEARCH} "
                                f"({problem or 'a layer has no output'})")
        while lo < hi:  # valid sizes are monotone: binary search the first one
            mid = (lo + hi) // 2
            if self._infer(in_channels, mid)[1] is None:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def embedding_dim(self, in_channels: int, input_size: int) -> int:
        return math.prod(self.layer_shapes(in_channels, input_size)[-1].shape)

    def deeper_shape(self, in_channels: int, input_size: int) -> tuple[int, ...]:
        """Output shape of the DEEPER layer at this input."""
        for shape in self.layer_shapes(in_channels, input_size):
            if shape.name == self.deeper:
                return shape.shape
        raise UserError(f"topology {self.name} names no DEEPER layer")

    def forward_flops(self, in_channels: int, input_size: int) -> int:
        """FLOPs (multiply and add counted separately) of one forward pass of one input."""
        return sum(s.flops for s in self.layer_shapes(in_channels, input_size))

    def parameter_count(self, in_channels: int, input_size: int) -> int:
        return sum(s.learnables for s in self.layer_shapes(in_channels, input_size))


def parse_topology(text: str, source: Path | None = None, default_name: str | None = None) -> Topology:
    """Parse and validate a TOML layer table."""
    where = str(source) if source else "topology table"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where}: not valid TOML ({exc})") from None
    return topology_from_dict(doc, where, source, default_name)


def topology_from_dict(doc: dict, where: str = "topology table", source: Path | None = None,
                       default_name: str | None = None) -> Topology:
    """Validate a layer table given as a dict (a parsed TOML file, or a saved model's description)."""
    if not isinstance(doc, dict):
        raise UserError(f"{where}: a layer table must be a table, got {type(doc).__name__}")
    name = doc.get("name", default_name)
    if not name:
        raise UserError(f"{where}: give the topology a name = \"...\"")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/:,"):
        raise UserError(f"{where}: name must be a word (no '/', ':' or ','), got {name!r}")
    dims = doc.get("dims", 2)
    if dims not in (1, 2):
        raise UserError(f"{where}: dims must be 1 (signals) or 2 (images), got {dims!r}")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise UserError(f"{where}: needs a non-empty `layers = [...]` list")
    layers, seen = [], set()
    for i, raw in enumerate(raw_layers, 1):
        if not isinstance(raw, dict) or "type" not in raw:
            raise UserError(f"{where}: layer {i} must be a table with a `type`")
        layer = dict(raw)
        kind = layer["type"] = str(layer["type"]).lower()
        if kind not in LAYER_SETTINGS:
            raise UserError(f"{where}: layer {i} has unknown type {kind!r}; known: {', '.join(LAYER_SETTINGS)}")
        layer.setdefault("name", f"{kind}{i}")
        unknown = set(layer) - LAYER_SETTINGS[kind] - {"type", "name"}
        if unknown:
            raise UserError(f"{where}: layer {layer['name']} ({kind}) has unknown settings {sorted(unknown)}")
        required = {"conv": ("filters", "kernel"), "maxpool": ("kernel",), "fc": ("units",)}.get(kind, ())
        for key in required:
            if not _is_int(layer.get(key)) or layer[key] < 1:
                raise UserError(f"{where}: layer {layer['name']} needs a positive integer `{key}`")
        for key, least in (("stride", 1), ("groups", 1), ("padding", 0)):
            if key in layer and (not _is_int(layer[key]) or layer[key] < least):
                raise UserError(f"{where}: layer {layer['name']} `{key}` must be an integer >= {least}, "
                                f"got {layer[key]!r}")
        if kind == "maxpool" and 2 * layer.get("padding", 0) > layer["kernel"]:
            raise UserError(f"{where}: layer {layer['name']} padding must be at most half the pooling kernel")
        if kind == "dropout" and not (_is_number(layer.get("p", 0.5)) and 0 <= layer.get("p", 0.5) < 1):
            raise UserError(f"{where}: layer {layer['name']} dropout p must be a number in [0, 1), got {layer['p']!r}")
        if kind == "leakyrelu" and not (_is_number(layer.get("slope", 0.01)) and layer.get("slope", 0.01) >= 0):
            raise UserError(f"{where}: layer {layer['name']} slope must be a non-negative number, got {layer['slope']!r}")
        if "bias" in layer and not isinstance(layer["bias"], bool):
            raise UserError(f"{where}: layer {layer['name']} bias must be true or false, got {layer['bias']!r}")
        if kind == "pretrained":
            if layers:
                raise UserError(f"{where}: layer {layer['name']} (pretrained) must be the first layer")
            if not isinstance(layer.get("network"), str) or not layer["network"]:
                raise UserError(f"{where}: layer {layer['name']} needs network = \"lite0\" (or a torchvision model)")
            if layer.get("init", "pretrained") not in PRETRAINED_INITS:
                raise UserError(f"{where}: layer {layer['name']} init must be one of {', '.join(PRETRAINED_INITS)}")
            if not isinstance(layer.get("weights", ""), str):
                raise UserError(f"{where}: layer {layer['name']} weights must be a path to a state-dict file")
            pretrained_info(layer["network"])  # an unknown network is an error now, not at training time
        if kind in ("conv", "maxpool", "gap") and any(l["type"] in ("fc", "flatten", "gap") for l in layers):
            raise UserError(f"{where}: layer {layer['name']} ({kind}) follows a flattened layer; convolutions and "
                            "pooling must come before the first fc or flatten")
        if not isinstance(layer["name"], str):
            raise UserError(f"{where}: layer {i} name must be a string, got {layer['name']!r}")
        if not layer["name"] or "." in layer["name"] or hasattr(_MODULE, layer["name"]):
            raise UserError(f"{where}: layer name {layer['name']!r} cannot name a torch module (torch refuses empty "
                            "names, names with '.', and the names of module attributes such as 'forward' or "
                            "'training'); rename the layer")
        if kind != "pretrained" and layer.get("init", "narrow-normal") not in INITS:
            raise UserError(f"{where}: layer {layer['name']} init must be one of {sorted(INITS)}")
        if kind == "conv" and layer["filters"] % layer.get("groups", 1):
            raise UserError(f"{where}: layer {layer['name']} filters must be divisible by groups")
        if layer["name"] in seen:
            raise UserError(f"{where}: layer name {layer['name']!r} is used twice")
        seen.add(layer["name"])
        layers.append(layer)
    flat_at = max((i for i, layer in enumerate(layers) if layer["type"] in ("fc", "flatten", "gap")
                   or (layer["type"] == "pretrained" and not pretrained_info(layer["network"]).feature_map)), default=None)
    if flat_at is None or any(layer["type"] not in FLAT_TAIL for layer in layers[flat_at + 1:]):
        raise UserError(f"{where}: the table must end in the embedding vector: fc, flatten or gap, optionally followed "
                        f"by {', '.join(FLAT_TAIL)}")
    if not any(layer["type"] in ("conv", "fc", "batchnorm", "pretrained") for layer in layers):
        raise UserError(f"{where}: no layer of the table learns anything; add a conv, fc or batchnorm layer")
    deeper = doc.get("deeper")
    if deeper is not None and deeper not in seen:
        raise UserError(f"{where}: deeper = {deeper!r} names no layer of the table")
    if deeper is not None:
        flat_from = next(i for i, layer in enumerate(layers) if layer["type"] in ("fc", "flatten", "gap")
                         or (layer["type"] == "pretrained" and not pretrained_info(layer["network"]).feature_map))
        if [layer["name"] for layer in layers].index(deeper) >= flat_from:
            maps = [layer["name"] for layer in layers[:flat_from]]
            raise UserError(f"{where}: deeper = {deeper!r} taps a layer without a spatial map (DEEPER takes the DCT "
                            f"of a conv map); tap one of {', '.join(maps) if maps else 'the layers before the first fc'}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: description must be a string, got {description!r}")
    return Topology(name=name, layers=tuple(layers), dims=dims, deeper=deeper, description=description, source=source)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_topology_file(path: Path) -> Topology:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserError(f"cannot read topology file {path}: {exc.strerror}") from None
    return parse_topology(text, source=Path(path), default_name=Path(path).stem)


def pretrained_topology(network: str, *, weights: str | None = None, init: str = "pretrained",
                        embedding: int | None = None) -> Topology:
    """A layer table around pretrained ``network``: its features (a conv map pooled by global average
    pooling), then an fc of ``embedding`` units if given (a Siamese twin) or nothing (a classifier's
    features: the classifier is the loss's). DEEPER taps the network's output."""
    layer = {"name": network, "type": "pretrained", "network": network, "init": init}
    if weights:
        layer["weights"] = str(weights)
    doc = {"name": f"{network}-{'twin' if embedding else 'cnn'}", "dims": 2, "layers": [layer]}
    if pretrained_info(network).feature_map:
        doc["layers"].append({"name": "pool", "type": "gap"})
        doc["deeper"] = network
    if embedding:
        doc["layers"].append({"name": "fc", "type": "fc", "units": int(embedding), "init": "glorot"})
    return topology_from_dict(doc, f"pretrained network {network}")
