"""Property-based tests (Hypothesis): generated recipe values, topology tables, image trees and
estimator parameters, hostile and harmless mixed, must give one of two outcomes: exit status 2 with
one line before any training (for the API: a ValueError or TypeError naming the parameter, before
training), or a run that completes. Never a traceback.

Valid values are drawn from cheap ranges (a few iterations, small inputs), so that every accepted
example runs to the end in about a second; hostile ones are wrong types, NaN, infinities, negative,
empty, duplicated and huge values. The runs leave out the frozen ImageNet-feature baseline: no
generated value reaches it that the raw-pixel baselines do not see, and it costs most of a run.

By default each property tries a few examples, chosen the same way on every run;
``DISSIM_HYPOTHESIS_EXAMPLES=200 pytest tests/test_properties.py`` tries 200 per property, drawn
afresh each time.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TOPOLOGY, synthetic_image
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from dissim.pipelines.run import main
from dissim.storage import cache_root
from dissim.train import loop

EXAMPLES = int(os.environ.get("DISSIM_HYPOTHESIS_EXAMPLES") or 0)
TABLES = itertools.count()


def examples(default: int):
    """Hypothesis settings: ``default`` examples, the same on every run, unless the variable asks for more."""
    return settings(max_examples=EXAMPLES or default, derandomize=not EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


# -- TOML text from generated values ------------------------------------------------------------------
def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # TOML holds no lone surrogates
HOSTILE = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from([0, -1, 10**12, 2**63 - 1]),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT,
                    st.lists(st.integers(-2, 3), max_size=3), st.just({"a": 1}))


@st.composite
def mutated(draw, valid: dict, optional: bool = True) -> dict:
    """A dict of valid values for some (or all) of ``valid``'s keys; half the time one value is hostile."""
    keys = draw(st.lists(st.sampled_from(sorted(valid)), unique=True)) if optional else sorted(valid)
    values = {key: draw(valid[key]) for key in keys}
    if draw(st.booleans()):
        values[draw(st.sampled_from(sorted(valid)))] = draw(HOSTILE)
    return values


PROFILE = {
    "input_size": st.integers(1, 24), "iterations": st.integers(1, 3), "batch_size": st.integers(2, 8),
    "lr": st.floats(1e-5, 1e-2), "betas": st.lists(st.floats(0, 0.999), min_size=2, max_size=2),
    "prototypes": st.lists(st.integers(1, 2), min_size=1, max_size=2), "share_network": st.booleans(),
    "svm_C": st.floats(1e-3, 1e6), "svm_gamma": st.floats(1e-6, 1e3), "triplet_margin": st.floats(0, 10),
    "embed_batch_size": st.integers(1, 10**6), "precision": st.sampled_from(["auto", "fp32", "bf16"]),
    "hasc": st.booleans(), "max_reruns": st.integers(0, 1), "converge_ratio": st.floats(1e-3, 10),
}
FILTERS = {
    "methods": st.lists(st.sampled_from(["Cross", "Triplet", "eCNN", "Nope"]), max_size=2),
    "spaces": st.lists(st.sampled_from(["fully", "deeper", "softmax"]), max_size=2),
    "k": st.lists(st.integers(0, 3), max_size=2), "per_topology": st.booleans(),
}


@st.composite
def selections(draw) -> dict:
    """A row or fusion: a name, some filters, perhaps one hostile value."""
    return {"name": draw(st.sampled_from(["all", "Cross only", "fully", "a|b"])), **draw(mutated(FILTERS))}


@st.composite
def recipes(draw) -> str:
    description = draw(st.one_of(TEXT, HOSTILE)) if draw(st.integers(0, 3)) == 0 else "generated"
    profile = {"input_size": 8, "iterations": 2, "batch_size": 4, "prototypes": [1], **draw(mutated(PROFILE))}
    lines = [f"description = {toml_value(description)}", "folds = [1]", "[profile]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in profile.items()]
    lines += ["[members]", f"topologies = {toml_value([str(TINY_TOPOLOGY)])}",
              f"methods = {toml_value(draw(st.lists(st.sampled_from(['Cross', 'Triplet']), min_size=1, max_size=2)))}",
              f"spaces = {toml_value(draw(st.lists(st.sampled_from(['fully', 'deeper']), min_size=1, max_size=2)))}",
              "[ecnn]", "input_size = 32"]
    if draw(st.booleans()):
        lines += ["[table]", f"rows = {toml_value(draw(st.lists(selections(), min_size=1, max_size=2)))}"]
    for fusion in draw(st.lists(selections(), max_size=1)):
        lines += ["[[fusions]]"] + [f"{key} = {toml_value(value)}" for key, value in fusion.items()]
    return "\n".join(lines) + "\n"


# valid layers of each kind (small), each can be mutated
LAYERS = {
    "conv": {"filters": st.integers(1, 6), "kernel": st.integers(1, 5), "stride": st.integers(1, 2),
             "padding": st.integers(0, 2), "bias": st.booleans(), "init": st.sampled_from(["he", "glorot"])},
    "relu": {}, "leakyrelu": {"slope": st.floats(0, 1)}, "batchnorm": {}, "dropout": {"p": st.floats(0, 0.9)},
    "maxpool": {"kernel": st.integers(1, 3), "stride": st.integers(1, 2)},
}
REQUIRED = {"conv": ("filters", "kernel"), "maxpool": ("kernel",)}
NAMES = st.sampled_from(["c1", "c2", "p1", "x.y", "forward", "", "training", "emb"])


@st.composite
def topologies(draw) -> str:
    layers = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(sorted(LAYERS)), max_size=4))):
        settings_ = {key: draw(LAYERS[kind][key]) for key in REQUIRED.get(kind, ())}
        settings_.update(draw(st.fixed_dictionaries({}, optional=LAYERS[kind])))
        layers.append({"name": f"l{i}", "type": kind, **settings_})
    layers.append({"name": "emb", "type": draw(st.sampled_from(["fc", "fc", "gap", "flatten"])),
                   "units": draw(st.integers(1, 16))})
    if layers[-1]["type"] != "fc":
        layers[-1].pop("units")
    doc = {"name": "gen", "layers": layers}
    if draw(st.booleans()) and len(layers) > 1:
        doc["deeper"] = draw(st.sampled_from([layer["name"] for layer in layers[:-1]]))
    if draw(st.booleans()):  # one hostile change: a setting, a name, a type, the table's keys
        where = draw(st.sampled_from(["setting", "name", "type", "doc"]))
        layer = draw(st.sampled_from(layers))
        if where == "setting":
            layer[draw(st.sampled_from(["filters", "kernel", "stride", "padding", "units", "groups", "p", "bias"]))] = \
                draw(HOSTILE)
        elif where == "name":
            layer["name"] = draw(st.one_of(NAMES, HOSTILE))
        elif where == "type":
            layer["type"] = draw(st.one_of(st.sampled_from(["warp", "gap", "fc", "pretrained"]), HOSTILE))
        else:
            doc[draw(st.sampled_from(["name", "dims", "deeper", "description", "layers"]))] = draw(HOSTILE)
    return "\n".join(f"{key} = {toml_value(value)}" for key, value in doc.items()) + "\n"


# -- running the command line and checking the one rule ------------------------------------------------
def small_tree(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(synthetic_image(c, rng, size=(10, 8))).save(root / name / f"{i}.png")
    return root


def run_cli(capsys, *args) -> None:
    """The rule: exit 2 with one line and nothing trained, or exit 0 with the table written."""
    out = Path(args[args.index("--out") + 1])
    status = main([*map(str, args), "--jobs", "1", "--no-progress"])
    err = capsys.readouterr().err
    event(("refused: " + err.split("error: ")[-1][:70]) if status == 2 else "ran")
    if status == 2:
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and "Traceback" not in err, err
        members = cache_root() / "members"
        assert not (members.exists() and any(members.rglob("*.npz"))), f"refused after training: {lines[0]}"
    else:
        assert status == 0, err
        assert (out / "table.csv").is_file()


@pytest.fixture(autouse=True)
def no_frozen_baseline(monkeypatch):
    monkeypatch.setattr("dissim.protocols.ensemble.frozen_baseline_weights", lambda cnn: None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    small_tree(root / "tree")
    return root


@examples(10)
@given(recipe=recipes())
def test_generated_recipes_are_refused_in_one_line_or_run(recipe, workspace, capsys, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path_factory.mktemp("cache")))
    path = tmp_path_factory.mktemp("recipe") / "r.toml"
    path.write_text(recipe)
    run_cli(capsys, "--dataset", "folder", "--data-root", workspace / "tree", "--pipeline", path,
            "--out", path.parent / "out")


@examples(10)
@given(table=topologies())
def test_generated_topology_tables_are_refused_in_one_line_or_run(table, workspace, capsys, tmp_path_factory,
                                                                  monkeypatch):
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path_factory.mktemp("cache")))
    folder = tmp_path_factory.mktemp("topology")
    (folder / "t.toml").write_text(table.replace('name = "gen"', f'name = "gen{next(TABLES)}"'))  # names are global
    recipe = folder / "r.toml"
    recipe.write_text(f'folds = [1]\n[profile]\ninput_size = 8\niterations = 2\nbatch_size = 4\nprototypes = [1]\n'
                      f'share_network = true\n[members]\ntopologies = ["t.toml"]\n'
                      f'spaces = {toml_value(["fully", "deeper"] if "deeper =" in table else ["fully"])}\n'
                      '[ecnn]\ninput_size = 32\n')
    run_cli(capsys, "--dataset", "folder", "--data-root", workspace / "tree", "--pipeline", recipe,
            "--out", folder / "out")


# -- image trees -----------------------------------------------------------------------------------
def _encoded(kind: str, height: int, width: int, rng) -> bytes:
    buffer = io.BytesIO()
    picture = rng.integers(0, 256, (height, width)).astype(np.uint8)
    arrays = {"png": (picture, "PNG"), "rgb-jpeg": (np.stack([picture] * 3, 2), "JPEG"),
              "png16": (picture.astype(np.uint16) * 257, "PNG"), "tiff-float": (picture / 255.0, "TIFF"),
              "tiff-int32": (picture.astype(np.int32), "TIFF"),
              "tiff-nan": (np.full((height, width), np.nan, np.float32), "TIFF"),
              "tiff-negative": (picture.astype(np.int32) - 300, "TIFF")}
    if kind not in arrays:
        return {"garbage": b"\x89PNG\r\n\x1a\nnot really", "empty": b""}[kind]
    array, fmt = arrays[kind]
    Image.fromarray(array.astype(np.float32) if kind.startswith("tiff-f") or kind == "tiff-nan" else array).save(
        buffer, fmt)
    return buffer.getvalue()


VALID_KINDS = ["png", "png", "png", "rgb-jpeg", "png16", "tiff-float", "tiff-int32", "text", "hidden"]
HOSTILE_KINDS = ["garbage", "empty", "tiff-nan", "tiff-negative", "dangling-link"]


@st.composite
def trees(draw) -> dict:
    """Class folders (in Fold folders or not) of mostly valid images; half the time one hostile entry."""
    classes = draw(st.lists(st.sampled_from(["a", "b", "c", "Fold1", ".hidden", "é"]), min_size=2, max_size=3,
                            unique=True))
    folds = draw(st.sampled_from([None, None, [1, 2], [1, 3], ["01", "1"]]))
    entry = st.tuples(st.sampled_from(VALID_KINDS), st.integers(1, 14), st.integers(1, 14))
    tree = {}
    for k in folds or [None]:
        for cls in classes:
            for i, item in enumerate(draw(st.lists(entry, min_size=3 if folds else 6, max_size=8))):
                tree[(f"Fold{k}/" if k is not None else "") + f"{cls}/{i}"] = item
    if draw(st.booleans()):
        tree[draw(st.sampled_from(sorted(tree)))] = (draw(st.sampled_from(HOSTILE_KINDS)), 4, 4)
    return tree


def write_generated_tree(root: Path, tree: dict) -> Path:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True)
    for stem, (kind, height, width) in tree.items():
        folder = (root / stem).parent
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(stem).name
        if kind == "text":
            (folder / f"{name}.txt").write_text("notes")
        elif kind == "hidden":
            (folder / f".{name}.png").write_bytes(b"junk")
        elif kind == "dangling-link":
            (folder / f"{name}.png").symlink_to(folder / "nowhere.png")
        else:
            suffix = {"rgb-jpeg": ".jpg"}.get(kind, ".tif" if kind.startswith("tiff") else ".png")
            (folder / f"{name}{suffix}").write_bytes(_encoded(kind, height, width, rng))
    return root


@examples(8)
@given(tree=trees())
def test_generated_image_trees_are_refused_in_one_line_or_run(tree, capsys, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path_factory.mktemp("cache")))
    folder = tmp_path_factory.mktemp("tree")
    root = write_generated_tree(folder / "data", tree)
    recipe = folder / "r.toml"
    recipe.write_text(f'[profile]\ninput_size = 8\niterations = 2\nbatch_size = 4\nprototypes = [1]\n'
                      f'share_network = true\n[members]\ntopologies = [{json.dumps(str(TINY_TOPOLOGY))}]\n'
                      '[ecnn]\ninput_size = 32\n')
    run_cli(capsys, "--dataset", "folder", "--data-root", root, "--pipeline", recipe, "--folds", "1",
            "--out", folder / "out")


# -- estimator parameters ------------------------------------------------------------------------------
ESTIMATOR_PARAMS = {
    "iterations": st.integers(1, 3), "batch_size": st.integers(2, 8), "lr": st.floats(1e-5, 1e-2),
    "betas": st.tuples(st.floats(0, 0.99), st.floats(0, 0.99)), "prototypes": st.integers(1, 2),
    "space": st.sampled_from(["fully", "deeper"]), "loss": st.sampled_from(["bce", "triplet"]),
    "input_size": st.integers(1, 20), "embed_batch_size": st.integers(1, 64), "max_reruns": st.integers(0, 1),
    "converge_ratio": st.floats(0.01, 10), "precision": st.just("fp32"),
    "loss_options": st.fixed_dictionaries({"margin": st.one_of(st.floats(0, 2), HOSTILE)}),
}


@examples(15)
@given(params=mutated(ESTIMATOR_PARAMS))
def test_generated_estimator_parameters_are_refused_by_name_or_fit(params, monkeypatch):
    from dissim import SiameseDissimilarity

    trained = []
    real_fit = loop.fit
    monkeypatch.setattr("dissim.train.twin.fit", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    if params.get("loss") != "triplet" and isinstance(params.get("loss_options"), dict):
        params.pop("loss_options")  # the margin is the triplet loss's
    X = np.stack([synthetic_image(c % 2, np.random.default_rng(c), size=(10, 8)) for c in range(12)])
    y = np.arange(12) % 2
    estimator = SiameseDissimilarity(topology=str(TINY_TOPOLOGY), device="cpu", random_state=0,
                                     **{"iterations": 2, "batch_size": 4, "prototypes": 1, **params})
    try:
        features = estimator.fit(X, y).transform(X)
    except (ValueError, TypeError) as error:
        assert not trained, f"refused after training: {error}"
        named = [key for key in estimator.get_params() if key in str(error)]
        assert named or "loss" in str(error) or "topology" in str(error), str(error)
        event("refused")
        return
    event("ran")
    assert features.shape[0] == 12 and np.isfinite(features).all()
