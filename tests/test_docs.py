"""The documentation is true: README.md and docs/ build into a site, their generated parts match the code,
and every shell and Python snippet in them runs as written.

Snippets. Every ```bash and ```python block of README.md and docs/*.md runs, in page order, in a
workspace that stands in for the repository root (its folders linked, ``results/`` copied), with
HOME a folder that holds the data the pages name (``~/data/my-images``, ``~/data/FRAMES.zip``: small
synthetic trees) and one dissim cache for all pages. A comment on the line above a block changes that:

- ``<!-- not run: REASON -->`` skips the block; the reason is required (GPU-sized, installs packages, ...);
- ``<!-- doc-test: ARGS -->`` appends ARGS to every ``run`` and ``library build`` command of the block, so
  that it runs at test size (a tiny topology, two iterations, one fold, an image folder for a data set
  the test has no copy of); ``exit=N`` among ARGS is the status each command must end with (default 0);
- ``<!-- file: NAME -->`` writes the block to NAME in the workspace instead of running it (a module or a
  recipe that a later block of the page uses).

dissim commands (``python -m dissim.pipelines.run``, ``python -m dissim.library``, ``python -m dissim``,
``dissim``) run in this process, one task at a time, so no interpreter starts per command; other lines
run in bash. A Python block followed by "It prints `TEXT`" must print TEXT (numbers within 1.5:
another CPU rounds differently).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_image, write_tree

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*(not run|doc-test|file)\s*:?(.*?)-->$")
NARRATIVE = re.compile(r"session|the issue|bar the|previously|we tried|helper|integrator", re.I)
NOT_IN_WORKSPACE = {".git", ".venv", "results", "site", ".pytest_cache", "__pycache__"}


@dataclass
class Block:
    page: Path
    line: int          # of the opening fence, 1-based
    language: str
    code: str
    marker: tuple[str, str] | None  # (kind, text) of the comment above, if any
    after: str         # the paragraph after the block

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, language, start = fence.group(1), fence.group(2), i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        code = "\n".join(line[len(indent):] for line in lines[i + 1:end]) + "\n"
        above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        match = MARKER.match(above)
        after = []
        for line in lines[end + 1:]:
            if after and not line.strip():
                break
            if line.strip():
                after.append(line)
        found.append(Block(page, start + 1, language, code,
                           (match.group(1), match.group(2).strip()) if match else None, " ".join(after)))
        i = end + 1
    return found


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]


# -- the pages' shape ------------------------------------------------------------------------------------

def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    first = [b for b in blocks(ROOT / "README.md") if b.language == "bash"][:2]
    # the two set-up commands come first, as CI runs the second one (the first bash block with pytest)
    assert first[0].code.strip() == ("python3.11 -m venv .venv && .venv/bin/pip install '.[ecnn]' "
                                     "&& .venv/bin/python -m dissim.pipelines.run")
    assert first[1].code.strip() == ("python3.11 -m venv .venv && .venv/bin/pip install '.[test,ecnn]' "
                                     "&& .venv/bin/python -m pytest -q")
    assert text.index("```bash") < text.index("\n## ")


def test_every_block_names_its_language_and_every_skip_its_reason():
    for block in ALL_BLOCKS:
        assert block.language, f"{block.where}: a fenced block without a language (bash, python, text, toml, ...)"
        if block.marker and block.marker[0] == "not run":
            assert block.marker[1], f"{block.where}: <!-- not run: ... --> needs its reason"
        if block.marker:
            assert block.language in ("bash", "python") or block.marker[0] == "file", (
                f"{block.where}: a {block.marker[0]} comment above a {block.language} block")


@pytest.mark.parametrize("where", ["README.md", "docs", "results", "pipelines", "dissim"])
def test_no_development_narrative(where):
    paths = [ROOT / where] if (ROOT / where).is_file() else sorted(
        p for p in (ROOT / where).rglob("*") if p.suffix in (".md", ".py", ".toml", ".json", ".csv"))
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in paths
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if NARRATIVE.search(line)]
    assert not hits, "\n".join(hits)


# -- the site ----------------------------------------------------------------------------------------------

def test_generated_parts_are_current():
    # in a fresh interpreter: other tests register topologies and data sets that --list would show
    run = subprocess.run([sys.executable, "tools/generate_docs.py", "--check"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stdout + run.stderr


def test_site_builds_strict(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "index.html").is_file()


# -- the snippets ----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def doc_data(tmp_path_factory):
    """The data the pages name, small: an image tree, an InfLar-shaped zip, a MATLAB DATA file, RRUFF files."""
    root = tmp_path_factory.mktemp("doc-data")
    write_tree(root / "my-images", per_class=15)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(root / "FRAMES.zip", "w") as archive:
        for fold in (1, 2, 3):
            for c, name in enumerate("BISU"):
                for i in range(3):
                    buffer = io.BytesIO()
                    Image.fromarray(synthetic_image(c, rng, colour=True)).save(buffer, format="PNG")
                    archive.writestr(f"FRAMES/Fold{fold}/{name}/frame_{fold}{c}{i}.png", buffer.getvalue())
    from scipy.io import savemat

    images = np.empty((1, 30), dtype=object)
    for i in range(30):
        images[0, i] = synthetic_image(i % 3, rng)
    labels = np.array([[i % 3 + 1 for i in range(30)]], dtype=float)
    order = np.arange(1, 31)
    div = np.array([np.roll(order, 10 * f) for f in range(3)], dtype=float)  # three folds of 20 + 10
    data = np.empty((1, 5), dtype=object)
    data[0, :] = [images, labels, div, np.array([[20.0]]), 30.0]
    savemat(root / "DATA.mat", {"DATA": data})
    from dissim import load_dataset

    spectra = load_dataset("rruff-ir", seed=1)
    for name, mineral, i in (("new_mineral.txt", "Newite", 0), ("unknown.txt", "", 1)):
        rows = "\n".join(f"{w:g}, {v:g}" for w, v in zip(spectra.wavenumbers, spectra.spectra[i]))
        (root / name).write_text((f"##NAMES={mineral}\n" if mineral else "") + f"##RRUFFID=X{i}\n{rows}\n##END=\n")
    python = root / "bin" / "python"  # `python` in bash lines: this interpreter, with its packages
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def doc_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("doc-cache")


def workspace(tmp_path: Path, data: Path) -> tuple[Path, Path]:
    """A folder that stands in for the repository root, and a HOME with ~/data."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_IN_WORKSPACE:
            (work / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "results", work / "results")
    for name in ("DATA.mat", "new_mineral.txt", "unknown.txt"):
        shutil.copy(data / name, work / name)
    (home / "data").mkdir(parents=True)
    for name in ("my-images", "FRAMES.zip"):
        (home / "data" / name).symlink_to(data / name)
    return work, home


def logical_lines(code: str) -> list[str]:
    return [line for line in code.replace("\\\n", " ").splitlines() if line.strip() and not line.strip().startswith("#")]


def dissim_argv(tokens: list[str]) -> list[str] | None:
    """The arguments of ``dissim.cli.main`` for a dissim command line, or None for another command."""
    if tokens[0] == "dissim":
        return tokens[1:]
    if Path(tokens[0]).name in ("python", "python3", "python3.11") and tokens[1:2] == ["-m"]:
        module = tokens[2]
        if module == "dissim.pipelines.run":
            return ["run", *tokens[3:]]
        if module == "dissim.library":
            return ["library", *tokens[3:]]
        if module == "dissim":
            return tokens[3:]
    return None


def run_dissim(argv: list[str]) -> tuple[int, str]:
    from dissim.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(argv)
        except SystemExit as exc:  # --help
            status = exc.code or 0
    return status, out.getvalue()


@contextlib.contextmanager
def importable(work: Path):
    """Modules in ``work`` importable (as ``python -m`` and ``python FILE`` make the current folder), and
    forgotten afterwards, so that another page's module of the same name is its own."""
    from dissim.data import DATASETS
    from dissim.eval import MATCHERS
    from dissim.nets import TOPOLOGIES
    from dissim.optim import OPTIMIZERS
    from dissim.train import LOSSES

    sys.path.insert(0, str(work))
    before = set(sys.modules)
    try:
        yield
    finally:
        sys.path.remove(str(work))
        gone = {name for name in set(sys.modules) - before
                if str(work) in (getattr(sys.modules[name], "__file__", None) or "")}
        for name in gone:
            del sys.modules[name]
        for registry in (DATASETS, MATCHERS, TOPOLOGIES, OPTIMIZERS, LOSSES):  # what those modules registered
            for key, entry in list(registry._entries.items()):
                if getattr(entry[1], "__module__", None) in gone:
                    del registry._entries[key]


def run_bash(block: Block, extras: list[str], expected: int, env: dict, work: Path) -> None:
    for line in logical_lines(block.code):
        tokens = [os.path.expanduser(t) if t.startswith("~") else t for t in shlex.split(line, comments=True)]
        argv = dissim_argv(tokens)
        if argv is None:
            run = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, f"{block.where}: {line}\n{run.stdout}{run.stderr}"
            continue
        if argv[:1] == ["run"] or argv[:2] == ["library", "build"]:
            argv += extras
            if argv[0] == "run" and "--jobs" not in argv and "--list" not in argv:
                argv += ["--jobs", "1"]
        with importable(work):
            status, output = run_dissim(argv)
        assert status == expected, f"{block.where}: {shlex.join(argv)} exited {status}, not {expected}\n{output}"


def claimed_numbers_match(claimed: str, printed: str) -> bool:
    number = r"-?\d+(?:\.\d+)?"
    if re.sub(number, "#", claimed) != re.sub(number, "#", printed):
        return False
    return all(abs(float(a) - float(b)) <= 1.5 for a, b in zip(re.findall(number, claimed), re.findall(number, printed)))


PRINTED: dict[str, str] = {}  # code -> what it printed: a block shown on two pages runs once


def run_python(block: Block, work: Path) -> None:
    if block.code not in PRINTED:
        out = io.StringIO()
        with importable(work), contextlib.redirect_stdout(out):
            exec(compile(block.code, block.where, "exec"), {"__name__": "__main__"})
        PRINTED[block.code] = out.getvalue()
    claim = re.search(r"[Ii]t prints `([^`]+)`", block.after)
    if claim:
        printed = PRINTED[block.code].strip()
        assert claimed_numbers_match(claim.group(1), printed), f"{block.where}: printed {printed!r}, the page says {claim.group(1)!r}"


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.language in ("bash", "python") for b in blocks(p))],
                         ids=lambda p: p.name)
def test_snippets_run_as_written(page, tmp_path, doc_data, doc_cache, monkeypatch):
    work, home = workspace(tmp_path, doc_data)
    monkeypatch.setenv("DISSIM_CACHE", str(doc_cache))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    env = {**os.environ, "PATH": f"{doc_data / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)])}
    for block in blocks(page):
        kind, text = block.marker or ("", "")
        if kind == "file":
            (work / text).write_text(block.code)
            continue
        if block.language not in ("bash", "python") or kind == "not run":
            continue
        if block.language == "python":
            run_python(block, work)
            continue
        extras = shlex.split(text) if kind == "doc-test" else []
        expected = next((int(e[5:]) for e in extras if e.startswith("exit=")), 0)
        extras = [os.path.expanduser(e) if e.startswith("~") else e for e in extras if not e.startswith("exit=")]
        run_bash(block, extras, expected, env, work)
