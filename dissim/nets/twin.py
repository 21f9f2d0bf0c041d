"""The Siamese twin: one backbone shared by both (or all three) sides, f(x) = σ(backbone(x)).

The same module serves 2-D images (N, C, H, W) and 1-D spectra (N, L) or (N, 1, L): the twin
turns raw inputs into the backbone's float input (:func:`to_input`), runs it, and applies the
feature activation in float32. Which head compares two embeddings is the loss's business
(:mod:`dissim.train.losses`); the twin only embeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..hardware import Compute
from .backbone import Backbone
from .table import Topology, topology_from_dict

ACTIVATIONS = ("sigmoid", "none", "l2")


def to_input(x: torch.Tensor, device: torch.device, scale: float = 1.0, channels_last: bool = False) -> torch.Tensor:
    """Raw values as float32 on ``device``, times ``scale`` (images stay 0-255 by default: Nanni et
    al. do not normalise); spectra (N, L) gain their channel axis; images channels-last if asked."""
    x = x.to(device, non_blocking=True).float()
    if scale != 1.0:
        x = x * scale
    if x.dim() == 2:
        x = x[:, None, :]
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class SiameseNet(nn.Module):
    """The twin sub-network of a Siamese network: ``features(x) = activation(backbone(x))``.

    ``activation`` is "sigmoid" (the authors' F = σ(f(x)), bounded features), "l2" (f(x)/‖f(x)‖,
    unit-length features) or "none" (the raw backbone output); ``input_scale`` multiplies the raw inputs (1/255 gives images in [0, 1]).
    ``embed`` runs inputs through it once, in batches and in eval mode, and can hand the DEEPER
    layer's activations of the same pass to a reduction (``tap``). ``compute`` (set by
    :meth:`to_device`) is where and how the backbone computes: its precision is "fp32", or "bf16"/"fp16"
    autocast with the last fc and the features in float32.
    """

    def __init__(self, topology: Topology, in_channels: int, input_size: int, activation: str = "sigmoid",
                 input_scale: float = 1.0, input_gate=None):
        super().__init__()
        self.input_scale = float(input_scale)
        # the fixed (untrained) data-processing layer h = σ(x ⊙ b) of the EMIS Siamese-CNN (b: background noise)
        self.register_buffer("input_gate", None if input_gate is None else torch.as_tensor(
            np.asarray(input_gate, dtype=np.float32)).reshape(1, 1, -1))
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.topology = topology
        self.in_channels = int(in_channels)
        self.input_size = int(input_size)
        self.activation = activation
        self.backbone = Backbone(topology, self.in_channels, self.input_size)
        self.compute = Compute()

    @property
    def embedding_dim(self) -> int:
        return self.backbone.embedding_dim

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    def to_device(self, compute: Compute) -> "SiameseNet":
        """Move to ``compute``'s device, compute in its (resolved) precision, and lay images out
        channels-last where it says so."""
        self.to(torch.device(compute.device))
        self.compute = compute
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        return self

    @property
    def channels_last(self) -> bool:
        """Whether images run in the channels-last memory format."""
        return self.compute.channels_last and self.topology.dims == 2

    def _prepare(self, x: torch.Tensor, device: torch.device) -> torch.Tensor:
        x = to_input(x, device, self.input_scale, self.channels_last)
        return x if self.input_gate is None else torch.sigmoid(x * self.input_gate)

    def _activate(self, out: torch.Tensor) -> torch.Tensor:
        out = out.float()  # the features (and the heads that compare them) stay in float32
        if self.activation == "l2":  # unit-length features: distances become cosine distances
            return torch.nn.functional.normalize(out, dim=1)
        return torch.sigmoid(out) if self.activation == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch of raw inputs (any device; moved to the twin's)."""
        device = self.device
        return self._activate(self.backbone(self._prepare(x, device), self.compute.autocast()))

    @torch.no_grad()
    def embed(self, inputs, batch_size: int = 256,
              tap: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(features (N, D), reduced taps (N, M) or None) of every input, each run through once.

        With ``tap``, the DEEPER layer's activations of each batch are passed to ``tap`` (in float32)
        and only its reduced output is kept. Tensors are returned on the twin's device.
        """
        was_training = self.training
        self.eval()
        device = self.device
        inputs = torch.as_tensor(np.asarray(inputs)) if not isinstance(inputs, torch.Tensor) else inputs
        features, reduced = [], []
        try:
            for start in range(0, len(inputs), batch_size):
                x = self._prepare(inputs[start:start + batch_size], device)
                if tap is not None:
                    out, activations = self.backbone.forward_with_tap(x, self.compute.autocast())
                    reduced.append(tap(activations.float()))
                else:
                    out = self.backbone(x, self.compute.autocast())
                features.append(self._activate(out))
        except torch.cuda.OutOfMemoryError:
            raise UserError(f"out of GPU memory embedding with batch size {batch_size}: lower the embedding "
                            "batch size (embed_batch_size in the recipe's [profile], or the estimator's)") from None
        finally:
            self.train(was_training)
        if not features:
            empty = torch.zeros((0, self.embedding_dim), device=device)
            return empty, (torch.zeros((0, 0), device=device) if tap is not None else None)
        return torch.cat(features), (torch.cat(reduced) if tap is not None else None)

    # -- a self-contained description, so that a saved model does not depend on packaged files --
    def spec(self) -> dict:
        t = self.topology
        return {"in_channels": self.in_channels, "input_size": self.input_size, "activation": self.activation,
                "input_scale": self.input_scale,
                "input_gate": None if self.input_gate is None else int(self.input_gate.numel()),
                "topology": {"name": t.name, "dims": t.dims, "deeper": t.deeper, "description": t.description,
                             "layers": [dict(layer) for layer in t.layers]}}

    @classmethod
    def from_spec(cls, spec: dict, where: str = "saved network", max_parameters: int = 2 * 10**9) -> "SiameseNet":
        """The (untrained) twin a :meth:`spec` describes, checked like a layer-table file and bounded in size."""
        if not isinstance(spec, dict) or not isinstance(spec.get("topology"), dict):
            raise UserError(f"{where}: the network description is missing or damaged")
        t = spec["topology"]
        doc = {key: t[key] for key in ("name", "dims", "deeper", "description", "layers") if t.get(key) is not None}
        topology = topology_from_dict(doc, where)
        channels, size = spec.get("in_channels"), spec.get("input_size")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (channels, size)):
            raise UserError(f"{where}: the network description has no valid input size and channels")
        if topology.parameter_count(channels, size) > max_parameters:
            raise UserError(f"{where}: the network it describes has more than {max_parameters:,} parameters; "
                            "refusing to build it")
        gate = np.ones(spec["input_gate"], np.float32) if spec.get("input_gate") else None  # values: the state dict
        return cls(topology, channels, size, spec.get("activation", "sigmoid"), float(spec.get("input_scale", 1.0)),
                   gate)
