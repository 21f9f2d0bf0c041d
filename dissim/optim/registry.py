"""Optimizers by name: built-ins, ``@register_optimizer`` factories, entry points and ``pkg.module:Factory`` paths.

A factory is any callable ``factory(params, *, lr, betas, niter, **options) -> torch.optim.Optimizer``; it
accepts and ignores the arguments it does not need. Installed packages may expose factories or
``torch.optim.Optimizer`` subclasses under the entry-point group ``dissim.optimizers``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

import torch
from torch.optim import Optimizer

from dissim.errors import UserError
from dissim.optim.dgrad import DecayDGrad, DGrad

ENTRY_POINT_GROUP = "dissim.optimizers"

Factory = Callable[..., Optimizer]

_REGISTRY: dict[str, Factory] = {}
_entry_points: dict[str, EntryPoint] | None = None  # discovered on first lookup or listing


def register_optimizer(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory`` under ``name`` (matched case-insensitively)."""
    key = name.lower()
    if not key or ":" in key:
        raise ValueError(f"invalid optimizer name {name!r}: must be non-empty and without ':'")

    def register(factory: Factory) -> Factory:
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not factory:
            raise ValueError(f"optimizer {key!r} is already registered to {existing!r}")
        _REGISTRY[key] = factory
        return factory

    return register


def list_optimizers() -> list[str]:
    """Sorted names of the registered optimizers, entry points included."""
    return sorted(_REGISTRY.keys() | _discovered_entry_points().keys())


def resolve_optimizer(spec: str) -> Factory:
    """The factory for a registered name, an entry-point name or a ``pkg.module:Factory`` path."""
    if ":" in spec:
        return _adapt(_import_attribute(spec), spec)
    name = spec.strip().lower()
    if name in _REGISTRY:
        return _REGISTRY[name]
    entry_point = _discovered_entry_points().get(name)
    if entry_point is not None:
        try:
            obj = entry_point.load()
        except (ImportError, AttributeError) as exc:
            raise UserError(
                f"optimizer {name!r} (entry point {entry_point.value!r}) cannot be loaded: {exc}"
            ) from exc
        return _adapt(obj, spec)
    raise UserError(
        f"unknown optimizer {spec!r}: registered optimizers are {', '.join(list_optimizers())}; "
        "or give pkg.module:Factory"
    )


def create_optimizer(
    spec: str,
    params,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.99),
    niter: int,
    **options,
) -> Optimizer:
    """Resolve ``spec`` and build the optimizer over ``params``; ``options`` go to the factory."""
    factory = resolve_optimizer(spec)
    try:
        optimizer = factory(params, lr=lr, betas=betas, niter=niter, **options)
    except (TypeError, ValueError) as exc:
        # Bad hyper-parameters or options are the user's to fix.
        raise UserError(f"cannot create optimizer {spec!r}: {exc}") from exc
    if not isinstance(optimizer, Optimizer):
        raise UserError(
            f"optimizer factory {spec!r} returned {type(optimizer).__name__}; "
            "a factory must return a torch.optim.Optimizer"
        )
    return optimizer


def _discovered_entry_points() -> dict[str, EntryPoint]:
    global _entry_points
    if _entry_points is None:
        _entry_points = {}
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            _entry_points.setdefault(entry_point.name.lower(), entry_point)
    return _entry_points


def _import_attribute(path: str):
    module_name, _, attribute = path.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not module_name or not attribute:
        raise UserError(f"invalid optimizer path {path!r}: give it as pkg.module:Factory")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"optimizer {path!r}: cannot import module {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"optimizer {path!r}: {module_name!r} has no attribute {attribute!r}") from None
    return obj


def _adapt(obj, spec: str) -> Factory:
    """Wrap an Optimizer subclass or a plain callable into the factory calling convention."""
    if isinstance(obj, type) and issubclass(obj, Optimizer):
        extras = [key for key in ("betas", "niter") if _accepts(obj, key)]

        def from_class(params, *, lr, betas=(0.9, 0.99), niter=None, **options):
            given = {"betas": betas, "niter": niter}
            return obj(params, lr=lr, **{key: given[key] for key in extras}, **options)

        return from_class
    if not callable(obj):
        raise UserError(
            f"optimizer {spec!r} is a {type(obj).__name__}, not a factory or a torch.optim.Optimizer subclass"
        )
    takes_betas = _accepts(obj, "betas")

    def from_function(params, *, lr, betas=(0.9, 0.99), niter=None, **options):
        if takes_betas:
            options["betas"] = betas
        return obj(params, lr=lr, niter=niter, **options)

    return from_function


def _accepts(fn, name: str) -> bool:
    """Whether ``fn`` can be called with the keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    parameter = parameters.get(name)
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


@register_optimizer("adam")
def _adam(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    options.setdefault("eps", 1e-8)
    return torch.optim.Adam(params, lr=lr, betas=betas, **options)


@register_optimizer("dgrad")
def _dgrad(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    return DGrad(params, lr=lr, betas=betas, **options)


@register_optimizer("decaydgrad")
def _decaydgrad(params, *, lr, betas=(0.9, 0.99), niter=None, **options) -> Optimizer:
    return DecayDGrad(params, lr=lr, betas=betas, niter=niter, **options)
