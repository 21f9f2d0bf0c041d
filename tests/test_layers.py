"""Imports flow one way: data -> nets, optim -> train -> space, eval -> library -> protocols ->
experiment -> command line. A module never imports from a layer above its own, and no chain of
imports leads from a module back to itself (imports inside functions count: they run too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dissim"
LAYERS = {  # top-level part of dissim -> rank; shared utilities sit at the bottom
    "errors": 0, "storage": 0, "registry": 0, "resources": 0, "settings": 0, "provenance": 0, "hardware": 0,
    "_version": 0,
    "data": 1, "nets": 2, "optim": 2, "train": 3, "space": 4, "eval": 5, "library": 6, "protocols": 7,
    "experiment": 8, "cli": 9, "pipelines": 10, "__main__": 10, "__init__": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _part(module: str) -> str:
    """The layer of a module. An entry point (``__main__.py``, run by ``python -m``) sits on top, like
    the command line it hands over to: no module imports it, so it cannot make an upward arrow."""
    if module.endswith(".__main__"):
        return "__main__"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str) -> set[str]:
    """The dissim modules that ``module`` imports, anywhere in its body. ``from package import name``
    imports ``package.name`` when that is a module, else the package itself (its ``__init__``)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(target)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_part_of_the_package_has_a_layer():
    assert {_part(module) for module in MODULES} <= set(LAYERS)


def test_no_module_imports_from_a_layer_above_it():
    upward = [f"{module} imports {target}" for module, targets in sorted(GRAPH.items()) for target in sorted(targets)
              if LAYERS[_part(target)] > LAYERS[_part(module)]]
    assert not upward, upward


def test_no_import_cycle_among_dissim_modules():
    cycles = _cycles(GRAPH)
    assert not cycles, cycles


def test_the_graph_sees_imports_inside_functions_and_the_finder_finds_cycles():
    assert "dissim.experiment.runner" in GRAPH["dissim.cli"]  # imported inside a function
    assert "dissim.eval.matchers.registry" in GRAPH["dissim.eval.matchers.siamese"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_imports_an_entry_point_or_takes_the_version_from_the_package():
    entry_points = {module for module in MODULES if module.endswith(".__main__")}
    assert not [m for m, targets in GRAPH.items() if targets & entry_points]
    from_package = sorted(m for m, targets in GRAPH.items() if "dissim" in targets)
    assert not from_package, from_package


def test_one_argument_parser_and_no_module_over_400_lines():
    parsers = [p for p in PACKAGE.rglob("*.py") if "ArgumentParser" in p.read_text()]
    assert [p.name for p in parsers] == ["cli.py"]
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_every_sampler_loss_and_matcher_has_a_module_of_its_own():
    from dissim.eval.matchers import MATCHERS
    from dissim.train.losses import LOSSES
    from dissim.train.samplers import SAMPLERS

    for registry in (SAMPLERS, LOSSES, MATCHERS):
        modules = sorted(registry.get(name).__module__ for name in registry.names())
        assert len(set(modules)) == len(modules), (registry.kind, modules)


def test_no_function_over_60_lines_in_protocols_and_experiment():
    long = {}
    for path in [*(PACKAGE / "protocols").rglob("*.py"), *(PACKAGE / "experiment").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long[f"{path.relative_to(PACKAGE)}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert not long, long


def test_no_protocol_switches_on_a_task_type():
    import re

    switches = [f"{path.relative_to(PACKAGE)}:{n}" for path in (PACKAGE / "protocols").rglob("*.py")
                for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"isinstance\(.*Task", line)]
    assert not switches, switches


def _name_tests(tree: ast.Module, names: set[str]) -> list[int]:
    """Lines of ``tree`` that compare a value with one of ``names`` (==, !=, in, not in): a string
    constant, or a module-level tuple, list, set or dict (its keys) that holds one (a module constant
    that merely equals a name, like the open-set protocol's own "cnn" family, is not one); and lines
    that look a value up in a dict literal keyed by one (``{"bce": ...}[loss]``)."""
    def constants(node) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        elements = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", [])
        return {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}

    collections = {target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value
                   for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                   if isinstance(target, ast.Name) and not isinstance(node.value, ast.Constant)
                   and constants(node.value) & names}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                 for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(constants(o) & names or (isinstance(o, ast.Name) and o.id in collections) for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict) and constants(node.value) & names:
            lines.append(node.lineno)
    return lines


def test_no_module_tests_a_loss_matcher_or_protocol_by_its_name():
    """Losses, samplers, matchers and protocols declare what generic code needs of them
    (``default_sampler``, ``summary``, ``predicts_class``, ``built_on``, ``threads_per_task``, ...): a
    module that compares a value with a registered name, or looks one up in a table keyed by them, fails."""
    from dissim.eval.matchers import MATCHERS
    from dissim.protocols import PROTOCOLS
    from dissim.train.losses import LOSSES

    names = {name.lower() for name in [*LOSSES.names(), *MATCHERS.names(), *PROTOCOLS.names()]}
    sample = ('a = loss == "bce"\nb = "siamese" != m\nc = k in CHOICES\nd = k == "other"\ne = k in {"lmnn": 1}\n'
              'f = {"triplet": "t", "x": "y"}[loss]\nCHOICES = ("cnn",)')
    assert sorted(_name_tests(ast.parse(sample), names)) == [1, 2, 3, 5, 6]
    found = {f"{path.relative_to(PACKAGE)}:{line}" for path in PACKAGE.rglob("*.py")
             for line in _name_tests(ast.parse(path.read_text()), names)}
    assert not found, sorted(found)
