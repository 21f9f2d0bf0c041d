"""dissim: classification in dissimilarity spaces built by Siamese networks.

The public API (imported on first use, so ``import dissim`` stays light):

- estimators (scikit-learn contract): :class:`SiameseDissimilarity` (images or spectra to
  dissimilarity vectors), :class:`SumRuleEnsemble` (the paper's fusion of z-scored member scores),
  the matchers :class:`SiameseMatcher`, :class:`NearestL2`, :class:`NearestCosine`,
  :class:`LMNNMatcher`, :class:`CNNClassifierMatcher`, :class:`ReferenceLibrary` (nearest-reference classification whose
  classes are added and removed without retraining), :class:`PairVerifier` (same class or not) and
  :class:`OpenSetSiamese` / :class:`OpenSetCNN` (known classes, or "unknown") and
  :class:`FineTunedCNN` (an ImageNet network fine-tuned on images: the eCNN member);
- data: :func:`load_dataset`, :func:`list_datasets`, :func:`register_dataset`;
- the registries: ``list_*`` / ``create_*`` / ``register_*`` for topologies, losses, optimizers,
  matchers and protocols;
- running recipes as the command line does: :func:`load_recipe`, :func:`run_experiment`, :class:`RunOptions`.
"""

from __future__ import annotations

import importlib

from ._version import __version__

_EXPORTS = {
    "SiameseDissimilarity": "dissim.space",
    "SumRuleEnsemble": "dissim.eval",
    "SiameseMatcher": "dissim.eval",
    "CNNClassifierMatcher": "dissim.eval",
    "PairVerifier": "dissim.eval",
    "OpenSetSiamese": "dissim.eval",
    "OpenSetCNN": "dissim.eval",
    "FineTunedCNN": "dissim.eval",
    "NearestL2": "dissim.eval",
    "NearestCosine": "dissim.eval",
    "LMNNMatcher": "dissim.eval",
    "create_matcher": "dissim.eval",
    "ReferenceLibrary": "dissim.library",
    "load_dataset": "dissim.data",
    "list_datasets": "dissim.data",
    "register_dataset": "dissim.data",
    "get_topology": "dissim.nets",
    "list_topologies": "dissim.nets",
    "register_topology": "dissim.nets",
    "create_loss": "dissim.train",
    "list_losses": "dissim.train",
    "register_loss": "dissim.train",
    "create_optimizer": "dissim.optim",
    "list_optimizers": "dissim.optim",
    "register_optimizer": "dissim.optim",
    "list_protocols": "dissim.protocols",
    "load_recipe": "dissim.experiment",
    "list_pipelines": "dissim.experiment",
    "run_experiment": "dissim.experiment",
    "RunOptions": "dissim.experiment",
    "UserError": "dissim.errors",
}


def list_matchers() -> list[str]:
    """Names of the registered matchers (nn-l2, nn-cosine, lmnn, siamese, ...)."""
    from .eval import MATCHERS

    return MATCHERS.names()


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dissim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", "list_matchers", *_EXPORTS]
