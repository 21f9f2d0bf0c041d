"""One registry pattern for everything named by the user: topologies, losses, samplers, optimizers,
matchers, dissimilarity spaces, data sets and protocols.

A :class:`Registry` maps case-folded names to objects. Three ways reach it:

- ``@registry.register("name")`` (or ``registry.register("name", obj)``) in code;
- the entry-point group ``dissim.<kind>s`` of an installed package
  (``[project.entry-points."dissim.optimizers"] myopt = "mypkg.opt:MyOptimizer"``);
- a dotted path ``pkg.module:Name`` given wherever a name is expected.

Unknown names are a :class:`~dissim.errors.UserError` that lists the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from .errors import UserError


class Registry:
    """Named objects of one kind (``kind`` is used in messages and in the entry-point group).

    ``populate`` (optional) is called once, on first use, to register the built-in entries
    (e.g. by importing the modules that hold them). ``adapt`` (optional) turns an object loaded
    from an entry point or a dotted path into the registry's calling convention.
    """

    def __init__(self, kind: str, *, populate: Callable[[], None] | None = None,
                 adapt: Callable[[object, str], object] | None = None,
                 path_hint: str = "pkg.module:Name", plural: str | None = None):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.path_hint = path_hint
        self.group = f"dissim.{self.plural.replace(' ', '_')}"
        self._entries: dict[str, tuple[str, object, str]] = {}  # key -> (display name, object, summary)
        self._populate = populate
        self._adapt = adapt
        self._entry_points: dict[str, EntryPoint] | None = None

    # -- registration ------------------------------------------------------------------------
    def register(self, name: str, obj=None, *, summary: str = "", replace: bool = False):
        """Register ``obj`` under ``name``; without ``obj``, a decorator that registers its target."""
        key = name.strip().lower()
        if not key or ":" in key:
            raise ValueError(f"invalid {self.kind} name {name!r}: must be non-empty and without ':'")

        def add(target):
            existing = self._entries.get(key)
            if existing is not None and existing[1] is not target and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered to {existing[1]!r}")
            text = summary or (getattr(target, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[key] = (name, target, text)
            return target

        return add if obj is None else add(obj)

    # -- lookup --------------------------------------------------------------------------------
    def get(self, name: str):
        """The object registered as ``name`` (any case), from an entry point, or at ``pkg.module:Name``."""
        self._ensure_populated()
        text = str(name).strip()
        if ":" in text:
            return self._adapted(_import_attribute(text, self.kind, self.path_hint), text)
        entry = self._entries.get(text.lower())
        if entry is not None:
            return entry[1]
        entry_point = self._discovered().get(text.lower())
        if entry_point is not None:
            try:
                obj = entry_point.load()
            except Exception as exc:  # an installed plugin that does not import is the user's to fix
                raise UserError(f"{self.kind} {text!r} (entry point {entry_point.value!r}) cannot be loaded: "
                                f"{type(exc).__name__}: {exc}") from None
            return self._adapted(obj, text)
        raise UserError(f"unknown {self.kind} {text!r}: known {self.plural} are {', '.join(self.names())}; "
                        f"or give {self.path_hint}")

    def create(self, name: str, *args, **kwargs):
        """``get(name)(*args, **kwargs)``."""
        return self.get(name)(*args, **kwargs)

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (dotted paths and entry points are returned as given)."""
        self.get(name)
        entry = self._entries.get(str(name).strip().lower())
        return entry[0] if entry else str(name).strip()

    def names(self) -> list[str]:
        """Registered names (as spelled when registered) and entry-point names, sorted."""
        self._ensure_populated()
        shown = {key: display for key, (display, _, _) in self._entries.items()}
        for key in self._discovered():
            shown.setdefault(key, key)
        return sorted(shown.values(), key=str.lower)

    def summaries(self) -> list[tuple[str, str]]:
        """(name, one-line summary) of every registered entry."""
        self._ensure_populated()
        return sorted(((display, text) for display, _, text in self._entries.values()), key=lambda e: e[0].lower())

    def __contains__(self, name: str) -> bool:
        self._ensure_populated()
        return str(name).strip().lower() in self._entries or str(name).strip().lower() in self._discovered()

    # -- internals -----------------------------------------------------------------------------
    def _ensure_populated(self) -> None:
        if self._populate is not None:
            populate, self._populate = self._populate, None
            populate()

    def _adapted(self, obj, spec: str):
        return self._adapt(obj, spec) if self._adapt else obj

    def _discovered(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {}
            for entry_point in entry_points(group=self.group):
                self._entry_points.setdefault(entry_point.name.lower(), entry_point)
        return self._entry_points


def _import_attribute(path: str, kind: str, hint: str):
    module_name, _, attribute = path.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not module_name or not attribute:
        raise UserError(f"invalid {kind} path {path!r}: give it as {hint}")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{kind} {path!r}: cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:  # the user's module failed while importing (SyntaxError, its own errors, ...)
        raise UserError(f"{kind} {path!r}: importing module {module_name!r} failed with "
                        f"{type(exc).__name__}: {exc}; fix that module") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{kind} {path!r}: {module_name!r} has no attribute {attribute!r}") from None
    return obj
