"""Matchers: how alike a query is to each reference, learned (or not) on training classes.

Every matcher is a scikit-learn transformer: ``fit(X, y)`` learns on the training classes,
``transform(X)`` maps items into the space where they are compared, and
``similarity(queries, references)`` gives the (Q, R) matrix (higher = more alike); a query takes
the class of its most similar reference (:class:`dissim.library.ReferenceLibrary`).

- ``nn-l2``: nearest neighbour with the Euclidean distance (similarity = −distance);
- ``nn-cosine``: nearest neighbour with the cosine similarity;
- ``lmnn``: Large Margin Nearest Neighbour (Weinberger & Saul 2009, ``metric-learn``) learned on the
  training classes after a PCA (LMNN's cost grows with the square of the dimension), then the
  Euclidean distance in its space;
- ``siamese``: a Siamese network (Liu et al.: a 1-D CNN twin, weighted-L1 + sigmoid head, BCE,
  balanced bootstrap pairs), trained by the shared core (:func:`dissim.train.train_twin`);
- ``cnn``: a 1-D CNN classifier of the training classes (seen classes only).

Matchers built from these live in a module each: ``sum-rule`` (:mod:`.sum_rule_matcher`),
``siamese-lmnn`` (:mod:`.siamese_lmnn_matcher`) and ``cnn-features`` (:mod:`.cnn_features_matcher`).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..data.arrays import InputShape, check_inputs, check_labelled, check_labels
from ..data.splits import class_validation_split
from ..errors import UserError
from ..hardware import fit_hardware
from ..nets import get_topology
from ..registry import Registry
from ..nets.twin import ACTIVATIONS
from ..space.estimator import resolve_seed
from ..train import TwinConfig, augmentation_recipe, train_twin
from ..train.params import FRACTION, POSITIVE, TRAINING, at_least, check_betas
from ..train.validation import EARLY_STOPPING



def _register_builtins() -> None:
    from . import cnn_features_matcher, siamese_lmnn_matcher, sum_rule_matcher  # noqa: F401  (they register)


MATCHERS = Registry("matcher", populate=_register_builtins)


class Matcher(TransformerMixin, BaseEstimator):
    """similarity(Q, R) = the matcher's comparison of transform(Q) with transform(R)."""

    def similarity(self, queries, references) -> np.ndarray:
        """How alike each query is to each reference, (queries, references); higher is more alike."""
        return self.compare(self.transform(queries), self.transform(references))


class _Unlearned(Matcher):
    _parameter_constraints: dict = {}

    def fit(self, X, y=None) -> "_Unlearned":
        validate_data(self, X, reset=True)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)


@MATCHERS.register("nn-l2")
class NearestL2(_Unlearned):
    """Nearest neighbour by the Euclidean distance (similarity = −distance); learns nothing."""

    @staticmethod
    def compare(q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """−Euclidean distance between transformed queries (Q, D) and references (R, D)."""
        q, r = np.asarray(q, np.float64), np.asarray(r, np.float64)
        squared = (q * q).sum(1)[:, None] - 2 * q @ r.T + (r * r).sum(1)[None, :]
        return -np.sqrt(np.maximum(squared, 0))


@MATCHERS.register("nn-cosine")
class NearestCosine(_Unlearned):
    """Nearest neighbour by the cosine similarity; learns nothing."""

    @staticmethod
    def compare(q: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Cosine similarity of transformed queries (Q, D) and references (R, D)."""
        q, r = np.asarray(q, np.float64), np.asarray(r, np.float64)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
        return q @ r.T


@functools.cache
def _lmnn_class():
    """metric-learn's LMNN, made to run on scikit-learn >= 1.8.

    metric-learn 0.7.0 (the latest release) passes ``force_all_finite`` to scikit-learn's
    ``check_array``/``check_X_y``, a keyword scikit-learn renamed ``ensure_all_finite`` (1.6) and
    then removed (1.8). The two names are rebound, in metric-learn's own ``_util`` module only, to
    wrappers that translate the keyword; nothing else of scikit-learn or metric-learn changes.
    """
    try:
        import metric_learn
        import metric_learn._util as util
    except ImportError:
        raise UserError("the lmnn matcher needs metric-learn: pip install metric-learn") from None
    import inspect

    from sklearn.utils import validation

    if "force_all_finite" not in inspect.signature(validation.check_array).parameters:
        def translate(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                if "force_all_finite" in kwargs:
                    kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
                return function(*args, **kwargs)
            return wrapper

        for name in ("check_array", "check_X_y"):
            current = getattr(util, name)
            if not getattr(current, "_dissim_translated", False):
                wrapped = translate(current)
                wrapped._dissim_translated = True
                setattr(util, name, wrapped)
    return metric_learn.LMNN


@MATCHERS.register("lmnn")
class LMNNMatcher(Matcher):
    """LMNN (k target neighbours, k = 1 by default since many classes hold two items) on a PCA of
    ``pca_components`` fitted on the training classes; then the Euclidean distance."""

    _parameter_constraints = {"pca_components": [at_least(1)], "k": [at_least(1)], "max_iter": [at_least(1)],
                               "learn_rate": [POSITIVE], "random_state": ["random_state"]}

    def __init__(self, pca_components: int = 50, k: int = 1, max_iter: int = 200, learn_rate: float = 1e-6,
                 random_state=0):
        self.pca_components = pca_components
        self.k = k
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.random_state = random_state

    def fit(self, X, y) -> "LMNNMatcher":
        from sklearn.decomposition import PCA

        self._validate_params()
        X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        y = check_labels(y, type(self).__name__)
        components = min(self.pca_components, X.shape[1], len(X) - 1)
        self.pca_ = PCA(n_components=components, random_state=self.random_state).fit(X)
        lmnn = _lmnn_class()(n_neighbors=self.k, max_iter=self.max_iter, learn_rate=self.learn_rate,
                             random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; max_iter bounds the run
            self.lmnn_ = lmnn.fit(self.pca_.transform(X), y)
        self.n_iter_ = getattr(self.lmnn_, "n_iter_", self.max_iter)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.lmnn_.transform(self.pca_.transform(validate_data(self, X, reset=False, dtype=np.float64)))

    compare = staticmethod(NearestL2.compare)


@MATCHERS.register("siamese")
class SiameseMatcher(Matcher):
    """A Siamese network's learned similarity (Liu et al., "Dynamic spectrum matching with one-shot learning").

    ``fit(X, y, validation=None)`` trains the twin of ``topology`` with ``loss`` on ``sampler``
    pairs for at most ``epochs`` epochs (one bootstrap iteration each), the learning rate halved
    every ``lr_halving_epochs``; with validation items (``validation=(X_val, y_val)``, or else a
    ``validation_fraction`` of the classes held out, class-disjoint) the epoch whose validation
    ranking (``early_stopping="ranking"``) or pair loss (``"loss"``) is best is kept, and
    ``patience`` epochs without improvement stop training (``"none"``: no early stopping, validation
    is ignored and the last epoch kept). ``augment`` transforms training spectra on the fly
    (:mod:`dissim.train.spectrum_transforms`): True for the default recipe (shift, scale, drift,
    noise, same-class mixing) or a list of specs such as ``["shift:0.5:points=3", "noise:0.3"]``;
    never at test time. ``sampler_options`` go to the sampler (``{"single_views": True}``: classes
    of one spectrum give it twice, see :class:`~dissim.train.samplers.ClassPairItemSampler`).
    ``activation="sigmoid"`` gives f(x) = σ(CNN(x)) ("l2": f(x)/‖f(x)‖; "none": the raw output). ``loss_options`` go to the loss (e.g. ``{"margin": 0.5}`` for the triplet loss).
    ``networks`` > 1 trains that many twins from consecutive seeds and averages their similarities
    (an ensemble; ``transform`` then gives their features side by side).
    ``transform(X)`` gives f(x); ``similarity`` the loss's comparison of f(q) and f(r).
    """

    _parameter_constraints = {
        **TRAINING, "loss": [str], "optimizer": [str, callable], "sampler": [str], "epochs": [at_least(1)],
        "lr_halving_epochs": [at_least(1)], "patience": [at_least(1)],
        "early_stopping": [StrOptions({*EARLY_STOPPING, "none"})],
        "augment": ["boolean", list, tuple], "activation": [StrOptions(set(ACTIVATIONS))],
        "validation_fraction": [FRACTION], "networks": [at_least(1)], "loss_options": [dict, None],
        "sampler_options": [dict, None],
    }

    def __init__(self, topology="liu-spectra", loss="bce", optimizer="adam", sampler="bootstrap-pairs", epochs=30,
                 batch_size=32, lr=1e-3, betas=(0.9, 0.999), lr_halving_epochs=10, patience=10,
                 early_stopping="ranking", augment=False, activation="sigmoid", validation_fraction=0.1,
                 input_size=None, networks=1, loss_options=None, sampler_options=None, device="auto", precision="auto",
                 random_state=None, verbose=False):
        self.topology = topology
        self.loss = loss
        self.optimizer = optimizer
        self.sampler = sampler
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.betas = betas
        self.lr_halving_epochs = lr_halving_epochs
        self.patience = patience
        self.early_stopping = early_stopping
        self.augment = augment
        self.activation = activation
        self.validation_fraction = validation_fraction
        self.input_size = input_size
        self.networks = networks
        self.loss_options = loss_options
        self.sampler_options = sampler_options
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    early_stops = True  # on validation classes; False: every epoch, validation ignored

    def _loss_options(self, y: np.ndarray) -> dict:
        return dict(self.loss_options or {})

    def fit(self, X, y, validation=None) -> "SiameseMatcher":
        self._validate_params()
        check_betas(self.betas)
        inputs, y = check_labelled(X, y, type(self).__name__)
        if len(np.unique(y)) < 2:
            raise ValueError("SiameseMatcher needs at least two classes to learn from; y has 1 class")
        topology = get_topology(self.topology)
        seed = resolve_seed(self.random_state)
        rng = np.random.default_rng(seed)
        if not self.early_stops or self.early_stopping == "none":
            validation = None
        elif validation is None and self.validation_fraction:
            train, held_out = class_validation_split(y, self.validation_fraction, rng)
            if len(held_out):
                validation = (inputs[held_out], y[held_out])
                inputs, y = inputs[train], y[train]
        self.topology_ = topology
        self.device_, self.precision_ = fit_hardware(self.device, self.precision, topology.dims)
        self.input_shape_ = InputShape(topology, self.input_size, "SiameseMatcher").fit(inputs)
        self.input_size_ = self.input_shape_.size
        if self.input_shape_.n_features is not None:
            self.n_features_in_ = self.input_shape_.n_features
        network_inputs = self.input_shape_(inputs)
        if validation is not None:
            validation = (self.input_shape_(check_inputs(validation[0], name="validation X")), np.asarray(validation[1]))
        recipe = augmentation_recipe(self.augment)
        config = TwinConfig(topology=topology, loss=self.loss, loss_options=self._loss_options(y),
                            optimizer=self.optimizer, lr=float(self.lr),
                            betas=tuple(self.betas), batch_size=int(self.batch_size), iterations=None,
                            epochs=int(self.epochs), sampler=self.sampler,
                            sampler_options=dict(self.sampler_options or {}), activation=self.activation,
                            lr_halving_epochs=int(self.lr_halving_epochs), patience=int(self.patience),
                            early_stopping="ranking" if self.early_stopping == "none" else self.early_stopping,
                            augmentation="spectrum" if recipe else "none",
                            augmentation_options={"transforms": list(recipe)} if recipe else {},
                            precision=self.precision_)
        twins = []
        for member in range(int(self.networks)):  # member 0 draws exactly what a single network draws
            twins.append(train_twin(network_inputs, y, config, seed=seed + member,
                                    rng=rng if member == 0 else np.random.default_rng([seed, member]),
                                    device=self.device_, validation=validation, progress=bool(self.verbose),
                                    desc=f"{type(self).__name__} {topology.name}"))
        self.nets_, self.losses_ = [t.net for t in twins], [t.loss for t in twins]
        self.histories_ = [t.history for t in twins]
        self.net_, self.loss_, self.history_ = twins[0].net, twins[0].loss, twins[0].history
        return self

    def embed(self, X):
        """f(x) of every item (the members' features side by side for an ensemble), as a float32
        tensor on the network's device."""
        check_is_fitted(self)
        inputs = self.input_shape_(check_inputs(X))
        return torch.cat([net.embed(inputs)[0] for net in self._nets()], dim=1)

    def _nets(self):
        return getattr(self, "nets_", None) or [self.net_]

    def _losses(self):
        return getattr(self, "losses_", None) or [self.loss_]

    def transform(self, X) -> np.ndarray:
        return self.embed(X).float().cpu().numpy()

    def similarity(self, queries, references) -> np.ndarray:
        return self.compare(self.embed(queries), self.embed(references))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # network features: float32 whatever comes in
        return tags

    def compare(self, fq, fr) -> np.ndarray:
        """The loss's similarity of embeddings (Q, D) and (R, D): (Q, R) float32 (an ensemble's: the
        mean of its members' similarities, each on its own slice of the features)."""
        device = self.net_.device
        fq, fr = torch.as_tensor(fq, device=device), torch.as_tensor(fr, device=device)
        ends = np.cumsum([net.embedding_dim for net in self._nets()])
        with torch.no_grad():
            total = 0
            for loss, end, dim in zip(self._losses(), ends, (net.embedding_dim for net in self._nets())):
                total = total + loss.similarity(fq[:, end - dim:end], fr[:, end - dim:end]).float()
            return (total / len(ends)).cpu().numpy()


@MATCHERS.register("cnn")
class CNNClassifierMatcher(SiameseMatcher):
    """A 1-D CNN classifier of the training classes (the twin's layers and a softmax layer, trained
    with cross-entropy on single spectra): the comparison of Liu et al. §3.2 on seen classes.

    ``predict(X)`` gives the most probable training class; as a matcher it compares the features
    before the softmax layer by the Euclidean distance. Training, augmentation and ``networks`` work
    as in :class:`SiameseMatcher` (an ensemble averages the members' class probabilities), but it
    trains every epoch without early stopping: validation items of other classes cannot tell how
    well it classifies its own (their feature ranking peaked before the classifier had learnt
    anything, at chance accuracy), so ``validation`` and ``validation_fraction`` are ignored.
    """

    _parameter_constraints = {k: v for k, v in SiameseMatcher._parameter_constraints.items() if k != "sampler_options"}

    def __init__(self, topology="liu-spectra", loss="cross-entropy", optimizer="adam", sampler="items", epochs=30,
                 batch_size=32, lr=1e-3, betas=(0.9, 0.999), lr_halving_epochs=10, patience=10,
                 early_stopping="ranking", augment=False, activation="sigmoid", validation_fraction=0.1,
                 input_size=None, networks=1, loss_options=None, device="auto", precision="auto", random_state=None,
                 verbose=False):
        super().__init__(topology=topology, loss=loss, optimizer=optimizer, sampler=sampler, epochs=epochs,
                         batch_size=batch_size, lr=lr, betas=betas, lr_halving_epochs=lr_halving_epochs,
                         patience=patience, early_stopping=early_stopping, augment=augment, activation=activation,
                         validation_fraction=validation_fraction, input_size=input_size, networks=networks,
                         loss_options=loss_options, device=device, precision=precision, random_state=random_state,
                         verbose=verbose)

    early_stops = False  # see the class docstring

    def _loss_options(self, y: np.ndarray) -> dict:
        self.classes_ = np.unique(y)
        return {**(self.loss_options or {}), "n_classes": len(self.classes_)}

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, classes), the ensemble's mean."""
        features = self.embed(X)
        ends = np.cumsum([net.embedding_dim for net in self._nets()])
        with torch.no_grad():
            probabilities = [torch.softmax(loss.logits(features[:, end - net.embedding_dim:end]).float(), dim=1)
                             for loss, net, end in zip(self._losses(), self._nets(), ends)]
        return torch.stack(probabilities).mean(0).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        probabilities = self.predict_proba(X)  # checks that it is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


def create_matcher(name: str, **params):
    """A matcher by registered name; ``params`` it does not take are refused with their names."""
    cls = MATCHERS.get(name)
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise UserError(f"matcher {name!r} takes no {sorted(unknown)}")
    return cls(**params)
