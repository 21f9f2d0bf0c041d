"""``siamese``: a Siamese network's learned similarity (Liu et al.: a 1-D CNN twin, weighted-L1 +
sigmoid head, BCE, balanced bootstrap pairs), trained by the shared core (:func:`dissim.train.train_twin`)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ...data.arrays import InputShape, check_inputs
from ...data.splits import class_validation_split
from ...errors import UserError
from ...hardware import resolve_compute
from ...nets import get_topology
from ...nets.twin import ACTIVATIONS, SiameseNet
from ...train import RETRIES, TwinConfig, TwinTraining, augmentation_recipe, create_loss, resolve_seed
from ...train.params import FRACTION, TRAINING, at_least
from ...train.validation import EARLY_STOPPING
from .base import Matcher
from .registry import MATCHERS


@MATCHERS.register("siamese")
class SiameseMatcher(TwinTraining, Matcher):
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
    (an ensemble; ``transform`` then gives their features side by side). A twin whose loss does not
    fall is retrained at most ``max_reruns`` times (``attempts_``: one record per network).
    ``transform(X)`` gives f(x); ``similarity`` the loss's comparison of f(q) and f(r).
    """

    _parameter_constraints = {
        **TRAINING, **RETRIES, "loss": [str], "optimizer": [str, callable], "sampler": [str], "epochs": [at_least(1)],
        "lr_halving_epochs": [at_least(1)], "patience": [at_least(1)],
        "early_stopping": [StrOptions({*EARLY_STOPPING, "none"})], "sampler_options": [dict, None],
        "augment": ["boolean", list, tuple], "activation": [StrOptions(set(ACTIVATIONS))],
        "validation_fraction": [FRACTION], "networks": [at_least(1)], "loss_options": [dict, None],
    }

    def __init__(self, topology="liu-spectra", loss="bce", optimizer="adam", sampler="bootstrap-pairs", epochs=30,
                 batch_size=32, lr=1e-3, betas=(0.9, 0.999), lr_halving_epochs=10, patience=10,
                 early_stopping="ranking", augment=False, activation="sigmoid", validation_fraction=0.1,
                 input_size=None, networks=1, loss_options=None, sampler_options=None, device="auto", precision="auto",
                 max_reruns=0, converge_ratio=0.9, random_state=None, verbose=False):
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
        self.max_reruns = max_reruns
        self.converge_ratio = converge_ratio
        self.random_state = random_state
        self.verbose = verbose

    early_stops = True  # on validation classes; False: every epoch, validation ignored
    state_kind = "siamese"
    trains_network = True
    is_siamese = True
    recipe_settings = {"epochs": "epochs", "networks": "networks", "activation": "features",
                       "early_stopping": "early_stopping", "loss": "loss"}

    def _loss_options(self, y: np.ndarray) -> dict:
        return dict(self.loss_options or {})

    def fit(self, X, y, validation=None) -> "SiameseMatcher":
        self._validate_params()
        inputs, y = self._labelled(X, y)
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
        network_inputs = self._fit_input_shape(topology, inputs)(inputs)
        self._resolve_compute(topology)
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
                            augmentation_options={"transforms": list(recipe)} if recipe else {})
        twins, self.attempts_ = [], []
        for member in range(int(self.networks)):  # member 0 draws exactly what a single network draws
            twin, attempts = self._train_twin(network_inputs, y, config, seed=seed + member,
                                         rng=rng if member == 0 else np.random.default_rng([seed, member]),
                                         validation=validation, desc=f"{type(self).__name__} {topology.name}")
            twins.append(twin)
            self.attempts_.append(attempts)
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

    def fitted_state(self) -> dict:
        if type(self) is not SiameseMatcher or len(self._nets()) > 1:
            raise UserError("only a single-network siamese matcher can be saved in a library file; "
                            "use networks = 1")
        return {"net": self.net_.spec(),
                "net_state": {k: v.detach().cpu().clone() for k, v in self.net_.state_dict().items()},
                "loss_state": {k: v.detach().cpu().clone() for k, v in self.loss_.state_dict().items()},
                "input_size": self.input_shape_.size, "channels": self.input_shape_.channels,
                "n_features": self.input_shape_.n_features}

    @classmethod
    def from_state(cls, state: dict, where: str) -> "SiameseMatcher":
        net = SiameseNet.from_spec(state["net"], where)
        net.load_state_dict(state["net_state"])
        loss = create_loss(state["params"].get("loss", "bce"), net.embedding_dim)
        loss.load_state_dict(state["loss_state"])
        matcher = cls(**{**state["params"], "topology": net.topology, "device": "cpu"})
        precision = state["params"].get("precision", "auto")  # a CUDA-only fp16 becomes this CPU's choice
        matcher.compute_ = resolve_compute("cpu", "auto" if precision == "fp16" else precision, dims=net.topology.dims)
        matcher.device_, matcher.precision_ = matcher.compute_.device, matcher.compute_.precision
        matcher.net_, matcher.loss_, matcher.history_ = net.to_device(matcher.compute_).eval(), loss.eval(), None
        matcher.topology_ = net.topology
        shape = InputShape(net.topology, None, "SiameseMatcher")
        shape.size, shape.channels, shape.n_features = int(state["input_size"]), state["channels"], state["n_features"]
        matcher.input_shape_, matcher.input_size_ = shape, shape.size
        if shape.n_features is not None:
            matcher.n_features_in_ = shape.n_features
        return matcher

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
