"""One-shot recipes: TOML files with top-level ``kind = "oneshot"`` (``pipelines/oneshot.toml``).

    kind = "oneshot"
    description = "..."
    [settings]
    methods = ["nn-l2", "nn-cosine", "lmnn", "siamese", "nn-l2-als", ...]   # suffix -als: ALS-corrected input
    partitions = 5                  # random class partitions (each seeded from --seed)
    fractions = [0.5, 0.1, 0.4]     # train / validation / test classes
    min_spectra_per_class = 2       # classes with fewer spectra are not split (see distractors)
    distractors = false             # true: their single spectra join the references as distractors
    topology = "liu-spectra"        # the Siamese twin (layer table name or path)
    features = "sigmoid"            # f(x) = σ(CNN(x)) ("none": the CNN output as it is)
    epochs = 30                     # bootstrap iterations (--iterations overrides)
    batch_size = 32                 # pairs per mini-batch, even (--batch-size overrides)
    lr = 1e-3
    lr_halving_epochs = 10
    patience = 10                   # early stopping on validation pairs
    early_stopping = "ranking"      # best epoch by validation nearest-neighbour accuracy ("loss": pair BCE)
    augment = false                 # random shift/gain/tilt/noise of training spectra (not in the paper)
    als_lam = 1e6                   # ALS baseline (Eilers & Boelens): smoothness
    als_p = 0.01                    # ALS asymmetry
    lmnn_pca = 50                   # PCA components before LMNN (fitted on training classes)
    lmnn_k = 1
    lmnn_max_iter = 200
    threads = 1                     # torch/BLAS threads (--threads overrides)
    tsne_min_spectra = 3            # t-SNE figure: test classes with at least this many spectra
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..errors import UserError
from .matchers import parse_method
from .protocol import check_fractions


@dataclass(frozen=True)
class OneShotSettings:
    methods: tuple[str, ...] = ("nn-l2", "nn-cosine", "lmnn", "siamese",
                                "nn-l2-als", "nn-cosine-als", "lmnn-als", "siamese-als")
    partitions: int = 5
    fractions: tuple[float, float, float] = (0.5, 0.1, 0.4)
    min_spectra_per_class: int = 2
    distractors: bool = False
    topology: str = "liu-spectra"
    features: str = "sigmoid"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    lr_halving_epochs: int = 10
    patience: int = 10
    early_stopping: str = "ranking"
    augment: bool = False
    als_lam: float = 1e6
    als_p: float = 0.01
    lmnn_pca: int = 50
    lmnn_k: int = 1
    lmnn_max_iter: int = 200
    threads: int = 1
    tsne_min_spectra: int = 3

    def to_dict(self) -> dict:
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass(frozen=True)
class OneShotRecipe:
    name: str
    description: str
    settings: OneShotSettings
    source: str

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": "oneshot", "description": self.description,
                "settings": self.settings.to_dict(), "source": self.source}


def is_oneshot(doc: dict) -> bool:
    return doc.get("kind") == "oneshot"


def load_oneshot_recipe(path: Path) -> OneShotRecipe:
    where = str(path)
    try:
        doc = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"cannot read {where}: {exc.strerror}") from None
    unknown = set(doc) - {"kind", "description", "settings"}
    if unknown:
        raise UserError(f"{where}: unknown one-shot recipe keys {sorted(unknown)}; known: kind, description, settings")
    if not is_oneshot(doc):
        raise UserError(f"{where}: not a one-shot recipe (needs kind = \"oneshot\")")
    raw = dict(doc.get("settings") or {})
    known = {f.name for f in fields(OneShotSettings)}
    bad = set(raw) - known
    if bad:
        raise UserError(f"{where} [settings]: unknown settings {sorted(bad)}; known: {sorted(known)}")
    for key in ("methods", "fractions"):
        if key in raw:
            if not isinstance(raw[key], list):
                raise UserError(f"{where} [settings]: {key} must be a list")
            raw[key] = tuple(raw[key])
    settings = check_settings(OneShotSettings(**raw), f"{where} [settings]")
    return OneShotRecipe(name=Path(path).stem, description=doc.get("description", ""), settings=settings,
                         source=where)


def check_settings(s: OneShotSettings, where: str) -> OneShotSettings:
    """Validated settings (UserError naming the setting otherwise)."""
    if not s.methods:
        raise UserError(f"{where}: methods is empty")
    for method in s.methods:
        parse_method(method)
    if len(set(s.methods)) != len(s.methods):
        raise UserError(f"{where}: a method is listed twice in {list(s.methods)}")
    positive = ("partitions", "min_spectra_per_class", "epochs", "lr_halving_epochs", "patience", "lmnn_pca",
                "lmnn_k", "lmnn_max_iter", "threads", "tsne_min_spectra")
    for key in positive:
        value = getattr(s, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{where}: {key} must be a positive integer, got {value!r}")
    if s.min_spectra_per_class < 2:
        raise UserError(f"{where}: min_spectra_per_class must be at least 2 (a reference and a query)")
    if not isinstance(s.batch_size, int) or s.batch_size < 2 or s.batch_size % 2:
        raise UserError(f"{where}: batch_size must be an even integer >= 2 (as many positive as negative pairs), "
                        f"got {s.batch_size!r}")
    for key in ("lr", "als_lam"):
        if not isinstance(getattr(s, key), (int, float)) or not getattr(s, key) > 0:
            raise UserError(f"{where}: {key} must be a positive number, got {getattr(s, key)!r}")
    if not 0 < s.als_p < 1:
        raise UserError(f"{where}: als_p must lie between 0 and 1, got {s.als_p!r}")
    if s.early_stopping not in ("ranking", "loss"):
        raise UserError(f"{where}: early_stopping must be \"ranking\" or \"loss\", got {s.early_stopping!r}")
    if s.features not in ("sigmoid", "none"):
        raise UserError(f"{where}: features must be \"sigmoid\" or \"none\", got {s.features!r}")
    for key in ("distractors", "augment"):
        if not isinstance(getattr(s, key), bool):
            raise UserError(f"{where}: {key} must be true or false")
    return replace(s, fractions=check_fractions(s.fractions), lr=float(s.lr), als_lam=float(s.als_lam),
                   als_p=float(s.als_p))


def is_oneshot_file(path: Path) -> bool:
    """Whether the TOML at ``path`` is a one-shot recipe (unreadable files: False, for the caller to report)."""
    try:
        return is_oneshot(tomllib.loads(Path(path).read_text()))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
