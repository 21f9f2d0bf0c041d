"""Imports flow one way: data -> nets, optim -> train -> space, eval -> library -> protocols ->
experiment -> command line. A module never imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dissim"
LAYERS = {  # top-level part of dissim -> rank; shared utilities sit at the bottom
    "errors": 0, "storage": 0, "registry": 0, "resources": 0, "settings": 0, "provenance": 0, "hardware": 0,
    "data": 1, "nets": 2, "optim": 2, "train": 3, "space": 4, "eval": 5, "library": 6, "protocols": 7,
    "experiment": 8, "cli": 9, "pipelines": 10, "__init__": 10,
}


def _part(module_path: Path) -> str:
    if module_path.name == "__main__.py":  # an entry point (python -m ...) sits on top, like the CLI
        return "pipelines"
    return module_path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if len(target) > 1:
                parts.add(target[1])
            else:
                parts.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dissim."):
            parts.add(node.module.split(".")[1])
    return parts & set(LAYERS)


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _part(path)
        for part in _imported_parts(path):
            if part != "__init__" and LAYERS[part] > LAYERS[own]:
                upward.append(f"{path.relative_to(PACKAGE)} imports dissim.{part}")
    assert not upward, upward


def test_one_argument_parser_and_no_module_over_400_lines():
    parsers = [p for p in PACKAGE.rglob("*.py") if "ArgumentParser" in p.read_text()]
    assert [p.name for p in parsers] == ["cli.py"]
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
