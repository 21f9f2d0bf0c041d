"""A reference library that grows and shrinks without retraining (Liu et al. §1, §3.1).

``ReferenceLibrary`` is a scikit-learn classifier around a matcher (:mod:`dissim.eval.matchers`):
``fit(X, y)`` trains the matcher on (X, y) unless it is already trained, then stores X as the
references; ``add`` stores more references (embedding only the new ones), ``remove`` drops a class,
``query`` ranks the classes for each query (each class scores as its best reference) and
``predict`` takes the best one.

Spectra libraries (``wavenumbers`` given) hold spectra on that grid: an array with the grid's
number of points is taken as sampled on it; spectra given with their own wavenumbers are resampled
onto the grid when they span it (up to a grid step and a quarter at each end) and refused otherwise.
NaN or infinite values are refused. Everything added or queried goes through ``preprocessing`` (the
one the matcher was trained with), stored in the library.

Saved as one file (``torch.save`` of plain tensors, strings and numbers, read back with
``weights_only=True``), written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_array, check_is_fitted

from .._version import __version__
from ..data.arrays import check_labels
from ..data.spectral import SpectralPreprocessing, resample
from ..errors import UserError
from ..eval.matcher_state import matcher_from_state, matcher_state
from ..eval.matchers import NearestCosine
from ..storage import atomic_write
from ..train.params import at_least

FORMAT = "dissim-reference-library"
FORMAT_VERSION = 2  # files of format 1 are read too


@dataclass(frozen=True)
class Match:
    """One answer to a query: a class, its similarity and the reference that gave it."""

    label: object  # as given to fit/add (class names are strings for spectra libraries)
    similarity: float
    reference: str


class ReferenceLibrary(ClassifierMixin, BaseEstimator):
    """Reference items compared with queries by a matcher (default: cosine nearest neighbour)."""

    _parameter_constraints = {"matcher": [HasMethods(["fit", "transform"]), None], "wavenumbers": ["array-like", None],
                               "preprocessing": [callable, None], "axis": [str], "batch_size": [at_least(1)]}

    def __init__(self, matcher=None, wavenumbers=None, preprocessing=None, axis="wavenumber (cm^-1)",
                 batch_size=256):
        self.matcher = matcher
        self.wavenumbers = wavenumbers
        self.preprocessing = preprocessing
        self.axis = axis
        self.batch_size = batch_size

    # -- fitting and changes -------------------------------------------------------------------
    def fit(self, X, y, ids=None, wavenumbers=None) -> "ReferenceLibrary":
        """Train the matcher on (X, y) if it is not trained yet; then hold exactly X as references."""
        self._validate_params()
        y = check_labels(y, "ReferenceLibrary")
        prepared = self.prepare(X, wavenumbers, where="fit")
        self.n_features_in_ = prepared.shape[1]
        matcher = self.matcher if self.matcher is not None else NearestCosine()
        try:
            check_is_fitted(matcher)
            self.matcher_ = matcher
        except NotFittedError:
            self.matcher_ = clone(matcher).fit(prepared, np.asarray(y))
        self._empty()
        self._store(prepared, y, ids)
        return self

    def clear(self) -> "ReferenceLibrary":
        """Drop every reference, keeping the trained matcher (a library around a trained matcher starts so)."""
        if not hasattr(self, "matcher_"):
            if self.matcher is None:
                raise UserError("this library has no trained matcher: call fit(X, y), or give a trained matcher")
            check_is_fitted(self.matcher)
            self.matcher_ = self.matcher
        self._empty()
        return self

    def _empty(self) -> None:
        self.embeddings_, self.labels_, self.ids_ = None, [], []

    def add(self, X, y, ids: Sequence[str] | None = None, wavenumbers=None) -> int:
        """Embed and store new references (nothing stored is recomputed); returns how many."""
        if not hasattr(self, "labels_"):
            self.clear()
        return self._store(self.prepare(X, wavenumbers, where="add"), y, ids)

    def _store(self, prepared: np.ndarray, y, ids) -> int:
        n = len(prepared)
        labels = [y] * n if np.ndim(y) == 0 else np.asarray(y).tolist()
        if len(labels) != n:
            raise UserError(f"add: {n} items but {len(labels)} labels; give one label per item (or one for all)")
        labels = [label.strip() if isinstance(label, str) else label for label in labels]
        if any(label == "" for label in labels):
            raise UserError("add: empty label; every reference needs a class name")
        ids = [f"ref-{len(self.ids_) + i}" for i in range(n)] if ids is None else [str(i) for i in ids]
        if len(ids) != n:
            raise UserError(f"add: {n} items but {len(ids)} reference ids")
        features = self._embed(prepared)
        self.embeddings_ = features if self.embeddings_ is None else np.concatenate([self.embeddings_, features])
        self.labels_ += labels
        self.ids_ += ids
        return n

    def remove(self, label: str) -> int:
        """Drop every reference of class ``label``; returns how many. UserError if it holds none."""
        check_is_fitted(self, "labels_")
        keep = [i for i, known in enumerate(self.labels_) if known != label]
        removed = len(self.labels_) - len(keep)
        if removed == 0:
            near = [c.item() for c in self.classes_ if str(c).lower() == str(label).lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UserError(f"remove: the library holds no class {label!r}{hint}; "
                            f"it holds {len(self.classes_)} classes (list them with `info --classes`)")
        self.embeddings_ = self.embeddings_[keep]
        self.labels_ = [self.labels_[i] for i in keep]
        self.ids_ = [self.ids_[i] for i in keep]
        return removed

    # -- contents ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(getattr(self, "labels_", []))

    @property
    def classes_(self) -> np.ndarray:
        """The distinct labels held, sorted."""
        return np.unique(np.asarray(self.labels_))

    @property
    def references(self) -> list[tuple[str, str]]:
        """(label, reference id) of every stored reference, in storage order."""
        return list(zip(self.labels_, self.ids_))

    @property
    def tolerance(self) -> float:
        """How far a resampled spectrum may fall short of each end of the grid."""
        grid = np.asarray(self.wavenumbers, dtype=np.float64)
        return 1.25 * float(np.median(np.diff(grid))) if len(grid) > 1 else 0.0

    # -- input checks and embedding ------------------------------------------------------------------
    def to_grid(self, X, wavenumbers=None, where: str = "spectra") -> np.ndarray:
        """Items (N, L) or one item (L,) as float64 (N, L), on the library's grid if it has one."""
        if scipy.sparse.issparse(X):
            raise TypeError(f"{where}: sparse input is not supported; give a dense array")
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        array = check_array(X, dtype=np.float64, ensure_all_finite=False, input_name=where)
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise UserError(f"{where}: item {int(np.flatnonzero(bad)[0])} contains NaN or infinite values; "
                            "clean it (or drop it) first")
        if self.wavenumbers is None:
            if hasattr(self, "n_features_in_") and array.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {array.shape[1]} features, but ReferenceLibrary is expecting "
                                 f"{self.n_features_in_} features as input")
            return array
        grid = np.asarray(self.wavenumbers, dtype=np.float64)
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

    def prepare(self, X, wavenumbers=None, where: str = "spectra") -> np.ndarray:
        """Items on the grid (see :meth:`to_grid`), preprocessed as the matcher was trained."""
        array = self.to_grid(X, wavenumbers, where)
        return self.preprocessing(array) if self.preprocessing is not None else array

    def _embed(self, prepared: np.ndarray) -> np.ndarray:
        return np.concatenate([self.matcher_.transform(prepared[i:i + self.batch_size])
                               for i in range(0, len(prepared), self.batch_size)])

    # -- queries -------------------------------------------------------------------------------------
    def _class_scores(self, X, wavenumbers=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(similarity to every reference (Q, R), best per class (Q, C), class codes of references, classes)."""
        empty = ("the library is empty; add references first (ReferenceLibrary.fit or add, or python -m dissim.library "
                 "add)")
        check_is_fitted(self, "labels_", msg=f"query: {empty}")
        if len(self) == 0:
            raise UserError(f"query: {empty}")
        features = self._embed(self.prepare(X, wavenumbers, where="query"))
        classes, codes = np.unique(np.asarray(self.labels_), return_inverse=True)
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
        similarity = np.concatenate([self.matcher_.compare(features[i:i + self.batch_size], self.embeddings_)
                                     for i in range(0, len(features), self.batch_size)])
        best = np.maximum.reduceat(similarity[:, order], starts, axis=1)
        return similarity, best, codes, classes

    def query(self, X, top_k: int = 5, wavenumbers=None) -> list[list[Match]]:
        """For each query, the ``top_k`` most similar classes (best first) with similarities."""
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise UserError(f"query: top_k must be a positive integer, got {top_k!r}")
        similarity, best, codes, classes = self._class_scores(X, wavenumbers)
        k = min(int(top_k), len(classes))
        answers = []
        for row in range(len(best)):
            order = np.argsort(-best[row], kind="stable")[:k]
            matches = []
            for c in order:  # the reference that gave class c its score
                ref = int(np.argmax(np.where(codes == c, similarity[row], -np.inf)))
                matches.append(Match(classes[c].item(), float(best[row, c]), self.ids_[ref]))
            answers.append(matches)
        return answers

    def decision_function(self, X) -> np.ndarray:
        """Each class's best similarity (Q, C), columns in ``classes_`` order; with two classes the
        second column minus the first (Q,), positive for ``classes_[1]``."""
        best = self._class_scores(X)[1]
        return best[:, 1] - best[:, 0] if best.shape[1] == 2 else best

    def predict(self, X) -> np.ndarray:
        _, best, _, classes = self._class_scores(X)
        return classes[np.argmax(best, axis=1)]

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path, info: dict | None = None) -> Path:
        """Write the library to one file, atomically (a reader sees the old file or the new one)."""
        check_is_fitted(self, "labels_")
        state = {
            "format": FORMAT, "version": FORMAT_VERSION, "dissim": __version__,
            "matcher": matcher_state(self.matcher_),
            "wavenumbers": None if self.wavenumbers is None else torch.as_tensor(np.asarray(self.wavenumbers)),
            "axis": self.axis, "batch_size": self.batch_size,
            "preprocessing": None if self.preprocessing is None else self.preprocessing.to_dict(),
            "info": dict(info if info is not None else getattr(self, "info_", {})),
            "n_features_in": getattr(self, "n_features_in_", None),
            "embeddings": None if self.embeddings_ is None else torch.as_tensor(self.embeddings_),
            "labels": np.asarray(self.labels_).tolist(), "ids": list(self.ids_),
        }
        return atomic_write(Path(path), lambda tmp: torch.save(state, tmp))

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceLibrary":
        """The library saved at ``path`` (by :meth:`save` or ``dissim library build``)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"library file {path} does not exist: create one with `python -m dissim.library build`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling errors come in many types
            raise UserError(f"{path} is not a readable dissim reference library ({type(exc).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path} is not a dissim reference library")
        try:
            return cls._from_state(state, path)
        except UserError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise UserError(f"{path}: a damaged dissim reference library ({type(exc).__name__}: {exc}); "
                            "rebuild it") from None

    @classmethod
    def _from_state(cls, state: dict, path: Path) -> "ReferenceLibrary":
        if state.get("version") == 1:
            state = _from_version_1(state)
        elif state.get("version") != FORMAT_VERSION:
            raise UserError(f"{path}: library format version {state.get('version')} is not supported "
                            f"(this dissim reads versions 1 and {FORMAT_VERSION})")
        preprocessing = state.get("preprocessing")
        library = cls(matcher_from_state(state["matcher"], str(path)),
                      None if state["wavenumbers"] is None else state["wavenumbers"].numpy(),
                      None if preprocessing is None else SpectralPreprocessing.from_dict(preprocessing),
                      axis=state.get("axis", "wavenumber (cm^-1)"), batch_size=state.get("batch_size", 256))
        library.matcher_ = library.matcher
        embeddings = state["embeddings"]
        library.embeddings_ = None if embeddings is None or not len(state["labels"]) else embeddings.numpy()
        library.labels_, library.ids_ = list(state["labels"]), list(state["ids"])
        if state.get("n_features_in") is not None:
            library.n_features_in_ = state["n_features_in"]
        library.info_ = dict(state.get("info") or {})
        _check_loaded(library, path)
        return library


def _check_loaded(library: ReferenceLibrary, path: Path) -> None:
    """The arrays of a loaded library agree with each other and are finite: a file damaged in a way that
    still loads (wrong widths, NaN values) is refused instead of answering queries with nan."""
    def damaged(what: str):
        return UserError(f"{path}: a damaged dissim reference library ({what}); rebuild it")

    matcher, n = library.matcher_, len(library.labels_)
    if len(library.ids_) != n or not all(isinstance(i, str) for i in library.ids_):
        raise damaged(f"{len(library.ids_)} reference ids for {n} labels")
    if not all(isinstance(label, (str, int, float)) and not isinstance(label, bool) for label in library.labels_):
        raise damaged("labels that are not names or numbers")
    if not isinstance(library.batch_size, int) or isinstance(library.batch_size, bool) or library.batch_size < 1:
        raise damaged(f"batch size {library.batch_size!r}")
    width = getattr(matcher, "n_features_in_", None)
    if library.wavenumbers is not None:
        grid = np.asarray(library.wavenumbers)
        if grid.ndim != 1 or len(grid) < 2 or not np.isfinite(grid).all() or np.any(np.diff(grid) == 0):
            raise damaged("its wavenumber grid is not a finite 1-D axis of distinct values")
        if width is not None and len(grid) != width:
            raise damaged(f"a grid of {len(grid)} points for a matcher of {width} inputs")
    embeddings = library.embeddings_
    if embeddings is None:
        if n:
            raise damaged(f"{n} labels but no embeddings")
        return
    expected = sum(net.embedding_dim for net in matcher._nets()) if hasattr(matcher, "net_") else width
    if embeddings.ndim != 2 or len(embeddings) != n or (expected is not None and embeddings.shape[1] != expected):
        raise damaged(f"embeddings of shape {tuple(embeddings.shape)} for {n} references of width {expected}")
    if not np.isfinite(embeddings).all():
        raise damaged("embeddings hold NaN or infinite values")


def _from_version_1(state: dict) -> dict:
    """A version-1 file (a SiameseSpectra model: backbone.* and head.* weights) in version-2 form."""
    spec = state["model"]
    weights = state["state_dict"]
    net = {"in_channels": 1, "input_size": spec["length"], "activation": spec.get("features", "sigmoid"),
           "topology": spec["topology"]}
    matcher = {"kind": "siamese", "params": {"loss": "bce"}, "net": net,
               "net_state": {k: v for k, v in weights.items() if k.startswith("backbone.")},
               "loss_state": {k: v for k, v in weights.items() if k.startswith("head.")},
               "input_size": spec["length"], "channels": 1, "n_features": spec["length"]}
    return {**state, "matcher": matcher}
