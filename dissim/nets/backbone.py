"""Build a torch backbone from a layer table."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import nn

from .pretrained import PretrainedFeatures
from .table import Topology

NARROW_NORMAL_STD = 0.01  # MATLAB's 'narrow-normal' initialiser, used by the authors


class Backbone(nn.Module):
    """A backbone built from a :class:`Topology`: images in, embeddings (last fc) out.

    ``forward_with_tap`` also returns the DEEPER layer's activations from the same pass. Both take
    an optional ``autocast`` context: the layers before the last fc run inside it, the last fc
    (whose outputs become the features) and whatever follows it in float32.
    """

    def __init__(self, topology: Topology, in_channels: int, input_size: int):
        super().__init__()
        shapes = topology.layer_shapes(in_channels, input_size, costs=False)  # raises on a too small input
        self.topology_name = topology.name
        self.in_channels = in_channels
        self.input_size = input_size
        self.embedding_dim = shapes[-1].shape[0]
        self.deeper_shape = next((s.shape for s in shapes if s.name == topology.deeper), None)
        self.layers = nn.Sequential()
        previous = (in_channels,) + (input_size,) * topology.dims
        for layer, shape in zip(topology.layers, shapes):
            self.layers.add_module(layer["name"], _make_layer(layer, topology.dims, previous))
            previous = shape.shape
        names = [layer["name"] for layer in topology.layers]
        self.tap_index = names.index(topology.deeper) if topology.deeper else None
        fcs = [i for i, layer in enumerate(topology.layers) if layer["type"] == "fc"]
        self.float32_from = fcs[-1] if fcs else len(names)

    def forward(self, x: torch.Tensor, autocast=None) -> torch.Tensor:
        return self._run(x, autocast, None)[0]

    def forward_with_tap(self, x: torch.Tensor, autocast=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and the DEEPER layer's activations, in one pass."""
        if self.tap_index is None:
            raise ValueError(f"topology {self.topology_name} names no DEEPER layer")
        return self._run(x, autocast, self.tap_index)

    def _run(self, x: torch.Tensor, autocast, tap_index: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        tap = None
        with autocast or nullcontext():
            for i, module in enumerate(self.layers[:self.float32_from]):
                x = module(x)
                if i == tap_index:
                    tap = x
        x = x.float()  # a no-op (the same tensor) when the layers ran in float32
        for i, module in enumerate(self.layers[self.float32_from:], start=self.float32_from):
            x = module(x)
            if i == tap_index:
                tap = x
        return x, tap


def _make_layer(layer: dict, dims: int, previous: tuple[int, ...]) -> nn.Module:
    """The torch module of one table layer, given the previous layer's output shape."""
    kind, flat = layer["type"], len(previous) == 1
    channels = previous[0]
    if kind == "conv":
        conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(
            channels, layer["filters"], layer["kernel"], stride=layer.get("stride", 1),
            padding=layer.get("padding", 0), groups=layer.get("groups", 1), bias=layer.get("bias", True))
        _initialise(conv, layer.get("init", "narrow-normal"))
        return conv
    if kind == "fc":
        fc = nn.Linear(math.prod(previous), layer["units"], bias=layer.get("bias", True))
        _initialise(fc, layer.get("init", "narrow-normal"))
        return fc if flat else nn.Sequential(nn.Flatten(), fc)
    if kind == "relu":
        return nn.ReLU()
    if kind == "leakyrelu":
        return nn.LeakyReLU(layer.get("slope", 0.01))
    if kind == "maxpool":
        pool = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
        return pool(layer["kernel"], stride=layer.get("stride", layer["kernel"]), padding=layer.get("padding", 0))
    if kind == "dropout":
        return nn.Dropout(layer.get("p", 0.5))
    if kind == "batchnorm":
        return (nn.BatchNorm1d if flat or dims == 1 else nn.BatchNorm2d)(channels)
    if kind == "flatten":
        return nn.Identity() if flat else nn.Flatten()
    if kind == "gap":
        return nn.Sequential((nn.AdaptiveAvgPool1d if dims == 1 else nn.AdaptiveAvgPool2d)(1), nn.Flatten())
    if kind == "pretrained":
        return PretrainedFeatures(layer["network"], channels, layer.get("weights") or None,
                                  layer.get("init", "pretrained"))
    raise ValueError(f"unknown layer type {kind!r}")


def he_normal_(module: nn.Module, bias_mean: float = 0.5) -> None:
    """He et al. 2015 for ReLU nets, as Borsani (2023) uses it: weights N(0, 2/D_in), biases
    N(``bias_mean``, 2/D_in), D_in the layer's fan-in (input channels x kernel area, or inputs of an fc)."""
    weight = module.weight
    fan_in = weight[0].numel() if weight.dim() > 1 else weight.numel()  # a head's weight vector: its length
    std = math.sqrt(2.0 / fan_in)
    nn.init.normal_(module.weight, 0.0, std)
    if module.bias is not None:
        nn.init.normal_(module.bias, bias_mean, std)


def _initialise(module: nn.Module, init: str) -> None:
    if init == "narrow-normal":
        nn.init.normal_(module.weight, 0.0, NARROW_NORMAL_STD)
        if module.bias is not None:
            nn.init.normal_(module.bias, 0.0, NARROW_NORMAL_STD)
    elif init == "he":
        he_normal_(module)
    else:  # glorot / xavier: MATLAB's default initialiser
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
