"""A reference library of spectra that grows and shrinks without retraining (Liu et al. §1, §3.1).

The library holds a trained Siamese network and the embeddings f(r) of its reference spectra.
Adding references embeds only the new spectra; removing a class drops its rows; a query embeds
the query spectra once and compares them with every stored embedding through the network's head,
s = σ(wᵀ|f(q) − f(r)| + b). Each class scores as its best reference; answers are the ``top_k``
classes by that score.

Spectra must be on the library's grid: an array with the grid's number of points is taken as
sampled on it; spectra given with their own wavenumbers are resampled onto the grid when they
span it (up to a grid step and a quarter at each end) and refused otherwise. NaN or infinite values
are refused. Everything added or queried goes through the preprocessing the network was trained
with (stored in the library).

Saved as one file (``torch.save`` of plain tensors, strings and numbers, read back with
``weights_only=True``), written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data.spectral import SpectralPreprocessing, resample
from ..errors import UserError
from ..oneshot.model import SiameseSpectra
from ..storage import atomic_write

FORMAT = "dissim-reference-library"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Match:
    """One answer to a query: a class, its similarity in [0, 1] and the reference that gave it."""

    label: str
    similarity: float
    reference: str


class ReferenceLibrary:
    """Embedded reference spectra and the Siamese network that compares them with queries."""

    def __init__(self, model: SiameseSpectra, wavenumbers, preprocessing: SpectralPreprocessing | None = None,
                 axis: str = "wavenumber (cm^-1)", info: dict | None = None, batch_size: int = 256):
        wavenumbers = np.asarray(wavenumbers, dtype=np.float64)
        if wavenumbers.ndim != 1 or len(wavenumbers) != model.length:
            raise ValueError(f"the grid has {wavenumbers.shape} points, the network takes {model.length}")
        self.model = model.cpu().eval()
        self.wavenumbers = wavenumbers
        self.preprocessing = preprocessing or SpectralPreprocessing()
        self.axis = axis
        self.info = dict(info or {})
        self.batch_size = batch_size
        self._embeddings = torch.zeros((0, model.embedding_dim))
        self._labels: list[str] = []
        self._ids: list[str] = []
        self.embedded_rows = 0  # spectra passed through the network by this object (adds and queries)

    # -- contents ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    @property
    def classes(self) -> list[str]:
        """The distinct labels held, sorted."""
        return sorted(set(self._labels))

    @property
    def references(self) -> list[tuple[str, str]]:
        """(label, reference id) of every stored reference, in storage order."""
        return list(zip(self._labels, self._ids))

    @property
    def embeddings(self) -> torch.Tensor:
        """The stored reference embeddings (R, D) (a copy)."""
        return self._embeddings.clone()

    @property
    def length(self) -> int:
        return len(self.wavenumbers)

    @property
    def tolerance(self) -> float:
        """How far a resampled spectrum may fall short of each end of the grid."""
        return 1.25 * float(np.median(np.diff(self.wavenumbers))) if self.length > 1 else 0.0

    # -- input checks and embedding ------------------------------------------------------------------
    def to_grid(self, spectra, wavenumbers=None, where: str = "spectra") -> np.ndarray:
        """Spectra (N, L) or (L,) as float64 (N, L) on the library's grid; UserError on bad input."""
        try:
            array = np.asarray(spectra, dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(f"{where}: not an array of numbers (ragged rows?): give spectra of equal length") from None
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[0] == 0:
            raise UserError(f"{where}: expected one spectrum or a 2-D array (spectra x points), got shape {array.shape}")
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise UserError(f"{where}: spectrum {int(np.flatnonzero(bad)[0])} contains NaN or infinite values; "
                            "clean it (or drop it) first")
        grid = self.wavenumbers
        if wavenumbers is not None:
            axis = np.asarray(wavenumbers, dtype=np.float64)
            if axis.ndim != 1 or len(axis) != array.shape[1]:
                raise UserError(f"{where}: {len(axis) if axis.ndim == 1 else axis.shape} wavenumbers for spectra of "
                                f"{array.shape[1]} points")
            if not (len(axis) == len(grid) and np.allclose(axis, grid)):
                array = np.stack([resample(axis, row, grid, self.tolerance, where=where if len(array) == 1
                                           else f"{where}, spectrum {i}") for i, row in enumerate(array)])
        elif array.shape[1] != len(grid):
            raise UserError(f"{where}: spectra of {array.shape[1]} points, but the library's grid has {len(grid)} "
                            f"({grid[0]:g}-{grid[-1]:g} {self.axis}); give their wavenumbers to resample them "
                            "onto the grid")
        return array

    def prepare(self, spectra, wavenumbers=None, where: str = "spectra") -> np.ndarray:
        """Spectra on the grid (see :meth:`to_grid`), preprocessed as the network was trained: float32 (N, L)."""
        return self.preprocessing(self.to_grid(spectra, wavenumbers, where))

    def _embed(self, prepared: np.ndarray) -> torch.Tensor:
        self.embedded_rows += len(prepared)
        return self.model.embed(prepared, batch_size=self.batch_size)

    # -- changes -------------------------------------------------------------------------------------
    def add(self, spectra, labels: str | Sequence[str], ids: Sequence[str] | None = None, wavenumbers=None) -> int:
        """Embed and store new reference spectra (nothing already stored is recomputed); returns how many."""
        prepared = self.prepare(spectra, wavenumbers, where="add")
        n = len(prepared)
        labels = [labels] * n if isinstance(labels, str) else [str(label) for label in labels]
        if len(labels) != n:
            raise UserError(f"add: {n} spectra but {len(labels)} labels; give one label per spectrum (or one for all)")
        if any(not label.strip() for label in labels):
            raise UserError("add: empty label; every reference needs a class name")
        if ids is None:
            start = len(self._ids)
            ids = [f"ref-{start + i}" for i in range(n)]
        ids = [str(i) for i in ids]
        if len(ids) != n:
            raise UserError(f"add: {n} spectra but {len(ids)} reference ids")
        features = self._embed(prepared)
        self._embeddings = torch.cat([self._embeddings, features])
        self._labels += [label.strip() for label in labels]
        self._ids += ids
        return n

    def remove(self, label: str) -> int:
        """Drop every reference of class ``label``; returns how many. UserError if it holds none."""
        keep = [i for i, known in enumerate(self._labels) if known != label]
        removed = len(self._labels) - len(keep)
        if removed == 0:
            near = [c for c in self.classes if c.lower() == str(label).lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UserError(f"remove: the library holds no class {label!r}{hint}; "
                            f"it holds {len(self.classes)} classes (list them with `info --classes`)")
        index = torch.as_tensor(keep, dtype=torch.long)
        self._embeddings = self._embeddings[index]
        self._labels = [self._labels[i] for i in keep]
        self._ids = [self._ids[i] for i in keep]
        return removed

    # -- queries -------------------------------------------------------------------------------------
    def query(self, spectra, top_k: int = 5, wavenumbers=None) -> list[list[Match]]:
        """For each query spectrum, the ``top_k`` most similar classes (best first) with similarities."""
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise UserError(f"query: top_k must be a positive integer, got {top_k!r}")
        if len(self) == 0:
            raise UserError("query: the library is empty; add reference spectra first "
                            "(ReferenceLibrary.add, or python -m dissim.library add)")
        prepared = self.prepare(spectra, wavenumbers, where="query")
        features = self._embed(prepared)
        classes, codes = np.unique(np.asarray(self._labels), return_inverse=True)
        codes_t = torch.as_tensor(codes, dtype=torch.long)
        k = min(int(top_k), len(classes))
        answers: list[list[Match]] = []
        for start in range(0, len(features), self.batch_size):
            sim = self.model.similarity(features[start:start + self.batch_size], self._embeddings)  # (q, R)
            best = torch.full((len(sim), len(classes)), -1.0, dtype=sim.dtype)
            best.scatter_reduce_(1, codes_t.expand_as(sim), sim, reduce="amax")
            order = torch.argsort(-best, dim=1, stable=True)[:, :k]
            for row in range(len(sim)):
                matches = []
                for c in order[row].tolist():  # the reference that gave class c its score
                    in_class = torch.where(codes_t == c, sim[row], torch.tensor(-2.0, dtype=sim.dtype))
                    ref = int(torch.argmax(in_class))
                    matches.append(Match(str(classes[c]), float(best[row, c]), self._ids[ref]))
                answers.append(matches)
        return answers

    # -- persistence ---------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "dissim": __version__,
            "model": self.model.spec(), "state_dict": {k: v.clone() for k, v in self.model.state_dict().items()},
            "wavenumbers": torch.as_tensor(self.wavenumbers), "axis": self.axis,
            "preprocessing": self.preprocessing.to_dict(), "info": self.info,
            "embeddings": self._embeddings.clone(), "labels": list(self._labels), "ids": list(self._ids),
        }

    def save(self, path: str | Path) -> Path:
        """Write the library to one file, atomically (a reader sees the old file or the new one)."""
        state = self.state()
        return atomic_write(Path(path), lambda tmp: torch.save(state, tmp))

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceLibrary":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"library file {path} does not exist: create one with `python -m dissim.library build`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling errors come in many types
            raise UserError(f"{path} is not a readable dissim reference library ({type(exc).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path} is not a dissim reference library")
        if state.get("version") != FORMAT_VERSION:
            raise UserError(f"{path}: library format version {state.get('version')} is not supported "
                            f"(this dissim reads version {FORMAT_VERSION})")
        model = SiameseSpectra.from_spec(state["model"])
        model.load_state_dict(state["state_dict"])
        library = cls(model, state["wavenumbers"].numpy(), SpectralPreprocessing.from_dict(state["preprocessing"]),
                      axis=state.get("axis", "wavenumber (cm^-1)"), info=state.get("info") or {})
        library._embeddings = state["embeddings"].float()
        library._labels = list(state["labels"])
        library._ids = list(state["ids"])
        return library
