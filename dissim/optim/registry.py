"""Optimizers by name, on the shared :class:`~dissim.registry.Registry`: built-ins,
``@register_optimizer`` factories, the entry-point group ``dissim.optimizers`` and
``pkg.module:Factory`` paths.

A factory is any callable ``factory(params, *, lr, betas, niter, **options) -> torch.optim.Optimizer``;
``torch.optim.Optimizer`` subclasses and plain callables found by entry point or dotted path are
adapted to that convention (they receive ``betas``/``niter`` only if they accept them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch.optim import Optimizer

from ..errors import UserError
from ..registry import Registry
from .dgrad import DecayDGrad, DGrad

Factory = Callable[..., Optimizer]


def _adapt(obj, spec: str) -> Factory:
    """Wrap an Optimizer subclass or a plain callable into the factory calling convention."""
    if isinstance(obj, type) and issubclass(obj, Optimizer):
        extras = [key for key in ("betas", "niter") if _accepts(obj, key)]

        def from_class(params, *, lr, betas=(0.9, 0.99), niter=None, **options):
            given = {"betas": betas, "niter": niter}
            return obj(params, lr=lr, **{key: given[key] for key in extras}, **options)

        return from_class
    if not callable(obj):
        raise UserError(f"optimizer {spec!r} is a {type(obj).__name__}, not a factory or a "
                        "torch.optim.Optimizer subclass")
    takes_betas = _accepts(obj, "betas")

    def from_function(params, *, lr, betas=(0.9, 0.99), niter=None, **options):
        if takes_betas:
            options["betas"] = betas
        return obj(params, lr=lr, niter=niter, **options)

    return from_function


OPTIMIZERS = Registry("optimizer", adapt=_adapt, path_hint="pkg.module:Factory")


def register_optimizer(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory`` under ``name`` (matched case-insensitively, listed in lower case)."""
    return OPTIMIZERS.register(name.lower())


def list_optimizers() -> list[str]:
    """Sorted names of the registered optimizers, entry points included."""
    return OPTIMIZERS.names()


def resolve_optimizer(spec: str) -> Factory:
    """The factory for a registered name, an entry-point name or a ``pkg.module:Factory`` path."""
    return OPTIMIZERS.get(spec)


def create_optimizer(spec: str, params, *, lr: float, betas: tuple[float, float] = (0.9, 0.99), niter: int,
                     **options) -> Optimizer:
    """Resolve ``spec`` and build the optimizer over ``params``; ``options`` go to the factory."""
    factory = resolve_optimizer(spec)
    try:
        optimizer = factory(params, lr=lr, betas=betas, niter=niter, **options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(f"cannot create optimizer {spec!r}: {exc}") from exc  # bad hyper-parameters or options
    if not isinstance(optimizer, Optimizer):
        raise UserError(f"optimizer factory {spec!r} returned {type(optimizer).__name__}; "
                        "a factory must return a torch.optim.Optimizer")
    return optimizer


def _accepts(fn, name: str) -> bool:
    """Whether ``fn`` can be called with the keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    parameter = parameters.get(name)
    return parameter is not None and parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                        inspect.Parameter.KEYWORD_ONLY)


@register_optimizer("adam")
def _adam(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    """Adam (torch.optim.Adam, eps 1e-8)."""
    options.setdefault("eps", 1e-8)
    return torch.optim.Adam(params, lr=lr, betas=betas, **options)


@register_optimizer("dgrad")
def _dgrad(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    """DGrad (Nanni et al. 2021, §2.3)."""
    return DGrad(params, lr=lr, betas=betas, **options)


@register_optimizer("decaydgrad")
def _decaydgrad(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    """DecayDGrad (Nanni et al. 2021, §2.3)."""
    return DecayDGrad(params, lr=lr, betas=betas, niter=niter, **options)


@register_optimizer("sgd")
def _sgd(params, *, lr, betas=(0.9, 0.99), niter=None, momentum=0.9, **options) -> Optimizer:
    """SGD with momentum (torch.optim.SGD; momentum 0.9 as MATLAB's 'sgdm'); ``betas`` is not used."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, **options)
