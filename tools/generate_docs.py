"""The generated parts of docs/: recipe settings, estimator defaults, command-line help and lists.

A page marks each generated part with a pair of comments::

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

and this script writes what NAME stands for between them, from the code itself: the settings
dataclasses of the recipe protocols (every ``setting(...)`` field with its type, default and
limits, described by the ``key = value  # comment`` listing in its module's docstring), the
public estimators' signatures, and the command line's ``--help`` and ``--list`` output. So the
pages cannot drift from the code: ``tests/test_docs.py`` and the MkDocs build both fail when a
committed page differs from what this script writes.

    python tools/generate_docs.py            # rewrite the generated parts of docs/*.md
    python tools/generate_docs.py --check    # exit 1, naming the parts that differ
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import inspect
import io
import os
import re
import sys
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BEGIN = re.compile(r"^<!-- generated: ([\w-]+) -->$")
END = "<!-- end generated -->"
COLUMNS = "100"  # argparse wraps --help to the terminal width; fixed, so the output is the same everywhere


# -- recipe settings ---------------------------------------------------------------------------------

# generated part -> (module, dataclass, section of the module docstring's listing, keys listed there
# that are not fields of the dataclass)
SETTINGS = {
    "recipe-profile": ("dissim.protocols.ensemble.recipe", "Profile", "profile", {"base"}),
    "recipe-ecnn": ("dissim.protocols.ensemble.recipe", "CnnSettings", "ecnn", set()),
    "recipe-oneshot": ("dissim.protocols.oneshot.settings", "OneShotSettings", "settings", set()),
    "recipe-openset": ("dissim.protocols.openset.settings", "OpenSetSettings", "settings", set()),
    "recipe-verify": ("dissim.protocols.verify.settings", "VerifySettings", "settings", set()),
}
_SECTION = re.compile(r"^\[+([\w.]+)\]+")
_KEY = re.compile(r"^(\w+)\s*=\s*(.*?)(?:\s+#\s*(.*))?$")


def documented_keys(docstring: str, section: str) -> dict[str, str]:
    """``key -> comment`` of the ``key = value  # comment`` lines under ``[section]`` of a docstring's
    listing; a line holding only a comment, or the rest of a value and a comment, continues the comment
    of the key above it."""
    keys, inside, current = {}, False, None
    for line in inspect.cleandoc(docstring).splitlines():
        text = line.strip()
        heading = _SECTION.match(text)
        if heading:
            inside, current = heading.group(1) == section, None
            continue
        if not inside:
            continue
        if text.startswith("#") and current is not None:
            keys[current] = f"{keys[current]} {text.lstrip('#').strip()}".strip()
            continue
        match = _KEY.match(text)
        if match:
            current = match.group(1)
            keys[current] = (match.group(3) or "").strip()
        elif not text:
            current = None
        elif current is not None and "  #" in text:  # a value continued on this line, with a comment
            keys[current] = f"{keys[current]} {text.split('  #', 1)[1].strip()}".strip()
    return keys


def _type_name(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + (
            ", or not set" if type(None) in args else "")
    if origin is tuple:
        plural = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}.get(args[0], "values")
        return f"list of {plural}" if len(args) == 2 and args[1] is Ellipsis else f"list of {len(args)} {plural}"
    return {int: "integer", float: "number", bool: "true / false", str: "string", dict: "table"}.get(hint, str(hint))


def _toml(value) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _limits(metadata) -> str:
    parts = []
    if metadata.get("choices") is not None:
        parts.append("one of " + ", ".join(_toml(c) for c in metadata["choices"]))
    if metadata.get("positive"):
        parts.append("> 0")
    if metadata.get("minimum") is not None:
        parts.append(f"≥ {_toml(metadata['minimum'])}")
    if metadata.get("maximum") is not None:
        parts.append(f"≤ {_toml(metadata['maximum'])}")
    if metadata.get("below") is not None:
        parts.append(f"< {_toml(metadata['below'])}")
    if metadata.get("even"):
        parts.append("even")
    if metadata.get("length") is not None:
        parts.append(f"{metadata['length']} values")
    if metadata.get("nonempty"):
        parts.append("not empty")
    if metadata.get("unique"):
        parts.append("no value twice")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "") if text else ""


def settings_table(name: str) -> str:
    """The table of every field of one settings dataclass."""
    module_name, class_name, section, extra = SETTINGS[name]
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    documented = documented_keys(module.__doc__ or "", section)
    missing = [f.name for f in fields if f.name not in documented]
    unknown = sorted(set(documented) - {f.name for f in fields} - extra)
    if missing or unknown:
        raise SystemExit(f"{module_name}: the docstring's [{section}] listing must name every field of {class_name} "
                         f"and nothing else; missing {missing}, not fields {unknown}")
    hints = typing.get_type_hints(cls)
    rows = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in fields:
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append(f"| `{f.name}` | {_type_name(hints[f.name])} | `{_toml(default)}` | {_limits(f.metadata)} | "
                    f"{_cell(documented[f.name])} |")
    return "\n".join(rows)


# -- estimators ----------------------------------------------------------------------------------------

def estimator_signatures() -> str:
    """One line per public class of ``dissim``: its constructor with every default, and its summary."""
    import dissim

    lines = []
    for name in dissim.__all__:
        obj = getattr(dissim, name)
        if not inspect.isclass(obj) or issubclass(obj, Exception) or name == "RunOptions":
            continue
        parameters = ", ".join(
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            for p in inspect.signature(obj).parameters.values())
        summary = inspect.getdoc(obj).split("\n\n")[0].replace("\n", " ")
        lines.append(f"- `{name}({parameters})`: {summary}")
    return "\n".join(lines)


# API reference groups: the public names of ``dissim`` by what they are for. Each is documented through the
# package that exports it (``dissim.eval.SiameseMatcher``), never through the file that defines it, so the
# reference survives modules being split or moved.
REFERENCE_GROUPS = {
    "Estimators": ("SiameseDissimilarity", "SumRuleEnsemble", "FineTunedCNN", "SiameseMatcher", "CNNClassifierMatcher",
                   "NearestL2", "NearestCosine", "LMNNMatcher", "ReferenceLibrary", "PairVerifier", "OpenSetSiamese",
                   "OpenSetCNN"),
    "Data sets": ("load_dataset", "list_datasets", "register_dataset"),
    "Registries": ("get_topology", "list_topologies", "register_topology", "create_loss", "list_losses", "register_loss",
                   "create_optimizer", "list_optimizers", "register_optimizer", "create_matcher", "list_matchers",
                   "list_protocols"),
    "Running recipes": ("load_recipe", "list_pipelines", "run_experiment", "RunOptions"),
    "Errors": ("UserError",),
}
EXTRA_REFERENCE = {"Optimizers of the paper": ("dissim.optim.DGrad", "dissim.optim.DecayDGrad")}


def api_reference() -> str:
    """``::: dissim.<package>.<name>`` for every public name of ``dissim``, grouped; a public name missing
    from the groups is an error, so a new export cannot go undocumented."""
    import dissim

    public = [name for name in dissim.__all__ if name != "__version__"]
    grouped = [name for names in REFERENCE_GROUPS.values() for name in names]
    if sorted(grouped) != sorted(public):
        raise SystemExit(f"tools/generate_docs.py REFERENCE_GROUPS must list every public name of dissim once: "
                         f"missing {sorted(set(public) - set(grouped))}, not public {sorted(set(grouped) - set(public))}")
    exports = getattr(dissim, "_EXPORTS")
    parts = []
    for group, names in {**REFERENCE_GROUPS, **EXTRA_REFERENCE}.items():
        parts.append(f"## {group}")
        for name in names:
            path = name if "." in name else f"{exports[name]}.{name}" if name in exports else f"dissim.{name}"
            parts.append(f"::: {path}")
    return "\n\n".join(parts)


# -- command line ----------------------------------------------------------------------------------------

def command_output(*argv: str) -> str:
    """What ``dissim ARGV`` prints (exit status 0), as a text block."""
    from dissim.cli import main

    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        with contextlib.redirect_stdout(out):
            try:
                status = main(list(argv), prog="dissim")
            except SystemExit as exc:  # --help
                status = exc.code
    finally:
        if previous is None:
            os.environ.pop("COLUMNS")
        else:
            os.environ["COLUMNS"] = previous
    if status:
        raise SystemExit(f"dissim {' '.join(argv)} exited with status {status}")
    return "```text\n" + "\n".join(line.rstrip() for line in out.getvalue().rstrip().splitlines()) + "\n```"


GENERATORS = {
    **{name: (lambda name=name: settings_table(name)) for name in SETTINGS},
    "api-estimators": estimator_signatures,
    "api-reference": api_reference,
    "cli-run-help": lambda: command_output("run", "--help"),
    "cli-library-help": lambda: command_output("library", "--help"),
    "list-pipelines": lambda: command_output("run", "--list", "pipelines"),
    "list-datasets": lambda: command_output("run", "--list", "datasets"),
    "list-topologies": lambda: command_output("run", "--list", "topologies"),
}


# -- pages ---------------------------------------------------------------------------------------------

def render(text: str, where: str) -> str:
    """``text`` with every generated part written afresh."""
    out, lines, i = [], text.splitlines(keepends=True), 0
    while i < len(lines):
        out.append(lines[i])
        begin = BEGIN.match(lines[i].strip())
        i += 1
        if not begin:
            continue
        name = begin.group(1)
        if name not in GENERATORS:
            raise SystemExit(f"{where}: unknown generated part {name!r}; known: {', '.join(GENERATORS)}")
        end = next((j for j in range(i, len(lines)) if lines[j].strip() == END), None)
        if end is None:
            raise SystemExit(f"{where}: generated part {name!r} has no {END!r}")
        out.append(GENERATORS[name]() + "\n")
        out.append(lines[end])
        i = end + 1
    return "".join(out)


def stale_pages(docs: Path = DOCS) -> dict[Path, str]:
    """Pages whose generated parts differ from what the code gives now -> the page as it should be."""
    stale = {}
    for page in sorted(docs.rglob("*.md")):
        text = page.read_text()
        fresh = render(text, str(page))
        if fresh != text:
            stale[page] = fresh
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which pages differ (exit 1 if any)")
    args = parser.parse_args(argv)
    stale = stale_pages()
    for page, fresh in stale.items():
        if args.check:
            print(f"{page.relative_to(ROOT)}: generated parts differ from the code; run python tools/generate_docs.py")
        else:
            page.write_text(fresh)
            print(f"wrote {page.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
