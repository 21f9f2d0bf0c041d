"""Recipe files and their settings: where recipes are, reading TOML, and one typed schema check.

Every recipe setting is a field of a dataclass; :func:`parse_settings` checks a TOML table (or the
command line's changes) against it in one place: unknown keys, types (``int``, ``float``, ``bool``,
``str``, tuples of them, ``X | None``) and the field's limits (:func:`setting`), so a bad value is
a :class:`~dissim.errors.UserError` naming the key before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from pathlib import Path

from .errors import UserError
from .resources import resource_dir


def setting(default=dataclasses.MISSING, *, minimum=None, maximum=None, below=None, positive=False, choices=None,
            even=False, length=None, nonempty=False, unique=False):
    """A dataclass field with limits: ``minimum``/``maximum`` inclusive, ``below`` exclusive, ``positive``
    (> 0), ``choices``, ``even`` integers, a tuple's ``length``, ``nonempty`` or ``unique`` (no value twice);
    limits apply to each item of a tuple."""
    metadata = {"minimum": minimum, "maximum": maximum, "below": below, "positive": positive, "choices": choices,
                "even": even, "length": length, "nonempty": nonempty, "unique": unique}
    return dataclasses.field(default=default, metadata=metadata)


def recipe_path(name_or_path: str, flag: str = "--pipeline") -> Path:
    """A packaged recipe by name (``pipelines/<name>.toml``) or a path to a .toml file; ``flag`` says
    where the name came from, for the error message."""
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise UserError(f"{flag}: give a recipe name or a path to a .toml file, got {name_or_path!r}")
    candidate = Path(name_or_path).expanduser()
    try:
        str(candidate).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{flag} {os.fsencode(candidate)!r}: the file name is not valid UTF-8 (the recipe's name goes "
                        "into UTF-8 tables); rename the file") from None
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise UserError(f"pipeline file {name_or_path} does not exist ({flag})")
        return candidate
    packaged = resource_dir("pipelines") / f"{name_or_path}.toml"
    if not packaged.is_file():
        known = ", ".join(sorted(p.stem for p in resource_dir("pipelines").glob("*.toml")))
        raise UserError(f"unknown pipeline {name_or_path!r} ({flag}): known pipelines are {known}, "
                        "or give a path to a .toml recipe")
    return packaged


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (TOML must be UTF-8)") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def parse_settings(cls, raw: dict, where: str, flags: dict[str, str] | None = None):
    """An instance of dataclass ``cls`` from ``raw``, every key checked; UserError naming the first problem.

    ``flags`` maps keys that came from the command line to their flag, which the message then names.
    """
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a table of settings, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(raw) - set(fields)
    if unknown:
        raise UserError(f"{where}: unknown settings {sorted(unknown)}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    flags = flags or {}
    values = {key: _check(key, value, hints[key], fields[key].metadata, where, flags.get(key))
              for key, value in raw.items()}
    return cls(**values)


def _check(key: str, value, hint, limits, where: str, flag: str | None):
    checked = _typed(value, hint)
    if flag is not None:
        shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        where, key = f"{flag} {shown}", ""
    if checked is _BAD:
        raise UserError(f"{where}: {(key + ' ') if key else ''}must be {_describe(hint)}, got {value!r}")
    items = checked if isinstance(checked, tuple) else (checked,)
    if limits.get("nonempty") and isinstance(checked, tuple) and not checked:
        raise UserError(f"{where}: {(key + ' ') if key else ''}must not be empty")
    if limits.get("unique") and isinstance(checked, tuple) and len(set(checked)) != len(checked):
        twice = next(v for i, v in enumerate(checked) if v in checked[:i])
        raise UserError(f"{where}: {(key + ' ') if key else ''}lists {twice!r} twice, got {list(checked)}")
    if limits.get("length") is not None and isinstance(checked, tuple) and len(checked) != limits["length"]:
        raise UserError(f"{where}: {(key + ' ') if key else ''}must hold {limits['length']} values, got {list(checked)}")
    for item in items:
        problem = _limit_problem(item, limits)
        if problem:
            shown = list(checked) if isinstance(checked, tuple) else checked
            raise UserError(f"{where}: {(key + ' ') if key else ''}must be {problem}, got {shown!r}")
    return checked


def _limit_problem(item, limits) -> str | None:
    if item is None:
        return None
    if isinstance(item, float) and not math.isfinite(item):
        return "a finite number"
    if limits.get("choices") is not None and item not in limits["choices"]:
        return "one of " + ", ".join(map(str, limits["choices"]))
    if limits.get("positive") and not item > 0:
        return "positive"
    if limits.get("minimum") is not None and item < limits["minimum"]:
        return f">= {limits['minimum']}"
    if limits.get("maximum") is not None and item > limits["maximum"]:
        return f"<= {limits['maximum']}"
    if limits.get("below") is not None and item >= limits["below"]:
        return f"< {limits['below']}"
    if limits.get("even") and item % 2:
        return "an even integer"
    return None


_BAD = object()


def _typed(value, hint):
    """``value`` converted to ``hint`` (int -> float, list -> tuple), or _BAD."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            result = _typed(value, option)
            if result is not _BAD:
                return result
        return _BAD
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return _BAD
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(value):
            return _BAD
        items = tuple(_typed(v, k) for v, k in zip(value, kinds))
        return _BAD if any(i is _BAD for i in items) else items
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if hint is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    if hint is dict:
        return value if isinstance(value, dict) else _BAD
    return value


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        plural = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}.get(args[0], "values")
        return f"a list of {plural}" if len(args) == 2 and args[1] is Ellipsis else f"a list of {len(args)} {plural}"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a table",
             type(None): "absent"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
