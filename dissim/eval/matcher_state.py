"""Saving a fitted matcher as plain tensors and values, read back with ``torch.load(weights_only=True)``
(the format of :mod:`dissim.library` files)."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..data.arrays import InputShape
from ..errors import UserError
from ..hardware import resolve_precision
from .matchers import MATCHERS, NearestCosine, NearestL2, SiameseMatcher


def matcher_state(matcher) -> dict:
    """A fitted matcher as plain data; matchers that hold foreign objects (LMNN) cannot be saved."""
    check_is_fitted(matcher)
    params = {k: v for k, v in matcher.get_params().items() if k != "topology"}
    if isinstance(matcher, SiameseMatcher):
        if type(matcher) is not SiameseMatcher or len(matcher._nets()) > 1:
            raise UserError("only a single-network siamese matcher can be saved in a library file; "
                            "use networks = 1")
        return {"kind": "siamese", "params": params, "net": matcher.net_.spec(),
                "net_state": {k: v.detach().cpu().clone() for k, v in matcher.net_.state_dict().items()},
                "loss_state": {k: v.detach().cpu().clone() for k, v in matcher.loss_.state_dict().items()},
                "input_size": matcher.input_shape_.size, "channels": matcher.input_shape_.channels,
                "n_features": matcher.input_shape_.n_features}
    if isinstance(matcher, (NearestL2, NearestCosine)):
        return {"kind": "nn-l2" if isinstance(matcher, NearestL2) else "nn-cosine", "params": params,
                "n_features_in": int(matcher.n_features_in_)}
    raise UserError(f"a {type(matcher).__name__} cannot be saved in a library file; use a siamese or "
                    "nearest-neighbour matcher")


def matcher_from_state(state: dict, where: str = "saved matcher"):
    """The fitted matcher that :func:`matcher_state` described (on the CPU); UserError naming
    ``where`` when the description is damaged."""
    try:
        return _matcher_from_state(state, where)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise UserError(f"{where}: the matcher stored there is damaged ({type(exc).__name__}: {exc}); "
                        "rebuild the file") from None


def _matcher_from_state(state: dict, where: str):
    from ..nets import SiameseNet
    from ..train import create_loss

    if state["kind"] not in ("siamese", "nn-l2", "nn-cosine"):
        raise UserError(f"{where}: unknown matcher kind {state['kind']!r}")
    if state["kind"] != "siamese":
        matcher = MATCHERS.get(state["kind"])(**state["params"])
        matcher.n_features_in_ = state["n_features_in"]
        return matcher
    net = SiameseNet.from_spec(state["net"], where)
    net.load_state_dict(state["net_state"])
    loss = create_loss(state["params"].get("loss", "bce"), net.embedding_dim)
    loss.load_state_dict(state["loss_state"])
    matcher = SiameseMatcher(**{**state["params"], "topology": net.topology, "device": "cpu"})
    precision = state["params"].get("precision", "auto")  # a CUDA-only fp16 becomes this CPU's choice
    matcher.precision_ = resolve_precision("auto" if precision == "fp16" else precision, "cpu",
                                           dims=net.topology.dims)
    matcher.net_, matcher.loss_, matcher.history_ = net.to_device("cpu", matcher.precision_).eval(), loss.eval(), None
    matcher.topology_, matcher.device_ = net.topology, "cpu"
    shape = InputShape(net.topology, None, "SiameseMatcher")
    shape.size, shape.channels, shape.n_features = int(state["input_size"]), state["channels"], state["n_features"]
    matcher.input_shape_, matcher.input_size_ = shape, shape.size
    if shape.n_features is not None:
        matcher.n_features_in_ = shape.n_features
    return matcher
