"""The Siamese network of Liu et al. (§2.1): s(x1, x2) = σ(wᵀ|f(x1) − f(x2)| + b).

f is a 1-D twin CNN built from a layer table (``topologies/liu-spectra.toml`` by default) and the
head is :class:`dissim.nets.heads.PairHead`. The paper's formula has no bias b; we keep the head's
bias (one number that only shifts the sigmoid, so it changes no ranking of references).

``features = "sigmoid"`` (the default) squashes the flattened CNN output into (0, 1) before the
head, f(x) = σ(CNN(x)), as Koch et al.'s one-shot Siamese nets and the rest of dissim do;
``"none"`` feeds the CNN output as it is (the paper's text). With unbounded features the weights w
learned on balanced pairs take both signs (about half positive on rruff-ir), so a larger
difference can *raise* the similarity, and ranking references suffers (see the README).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..nets.backbone import Backbone
from ..nets.heads import PairHead
from ..nets.table import Topology

FEATURES = ("sigmoid", "none")


class SiameseSpectra(nn.Module):
    """Twin CNN + weighted-L1 head over spectra of ``length`` points (one channel)."""

    def __init__(self, topology: Topology, length: int, features: str = "sigmoid"):
        super().__init__()
        if topology.dims != 1:
            raise ValueError(f"topology {topology.name} is {topology.dims}-D; spectra need a dims = 1 table")
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        self.topology = topology
        self.length = int(length)
        self.feature_activation = features
        self.backbone = Backbone(topology, 1, self.length)
        self.head = PairHead(self.backbone.embedding_dim)

    @property
    def embedding_dim(self) -> int:
        return self.backbone.embedding_dim

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for a batch of spectra (N, L) or (N, 1, L)."""
        if x.dim() == 2:
            x = x[:, None, :]
        out = self.backbone(x)
        return torch.sigmoid(out) if self.feature_activation == "sigmoid" else out

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Logits of s(x1, x2), one per pair; both sides go through f in one pass (shared batch norm)."""
        features = self.features(torch.cat([x1, x2]))
        f1, f2 = features.split([len(x1), len(x2)])
        return self.head(f1, f2)

    @torch.no_grad()
    def embed(self, spectra, batch_size: int = 256) -> torch.Tensor:
        """f(x) of preprocessed spectra (N, L) in eval mode, in batches; returns (N, D) float32 on CPU."""
        was_training = self.training
        self.eval()
        try:
            x = torch.as_tensor(np.asarray(spectra, dtype=np.float32))
            out = [self.features(x[i:i + batch_size].to(self.device)).float().cpu()
                   for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out) if out else torch.zeros((0, self.embedding_dim))

    @torch.no_grad()
    def similarity(self, fq: torch.Tensor, fr: torch.Tensor) -> torch.Tensor:
        """s between every query embedding (Q, D) and reference embedding (R, D): (Q, R) in [0, 1]."""
        return self.head.all_pairs(fq.to(self.device), fr.to(self.device)).float().cpu()

    # -- a self-contained description, so that a saved model does not depend on packaged files --
    def spec(self) -> dict:
        t = self.topology
        return {"length": self.length, "features": self.feature_activation,
                "topology": {"name": t.name, "dims": t.dims, "description": t.description,
                             "layers": [dict(layer) for layer in t.layers]}}

    @classmethod
    def from_spec(cls, spec: dict) -> "SiameseSpectra":
        t = spec["topology"]
        topology = Topology(name=t["name"], layers=tuple(dict(layer) for layer in t["layers"]), dims=t["dims"],
                            description=t.get("description", ""))
        return cls(topology, spec["length"], spec.get("features", "sigmoid"))
