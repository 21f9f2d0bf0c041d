"""The reference library: add without retraining or re-embedding, remove, query, save/load (and
files of the first format), bad input, the estimator contract, and its command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dissim.data.spectral import SpectralPreprocessing
from dissim.errors import UserError
from dissim.eval import NearestCosine, SiameseMatcher
from dissim.library import ReferenceLibrary
from dissim.library.__main__ import main as library_main

GRID = np.arange(400.0, 4000.0, 4.0)  # the rruff-ir grid, 900 points


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def peaks(centres, rng, noise=0.0):
    """A spectrum on GRID with Gaussian bands at ``centres`` (cm^-1) on a small offset."""
    y = 0.05 + sum(np.exp(-0.5 * ((GRID - c) / 15.0) ** 2) for c in centres)
    return y + noise * rng.standard_normal(len(GRID))


CLASSES = {"Albite": [1000, 1100], "Calcite": [1420, 880], "Quartz": [1080, 800, 460], "Gypsum": [1140, 3400]}


@pytest.fixture
def model():
    """A trained matcher whose head ranks by feature distance (w < 0): s falls as |f(q) − f(r)| grows."""
    rng = np.random.default_rng(9)
    x = np.stack([peaks(c, rng, 0.01) for c in CLASSES.values() for _ in range(2)])
    y = np.repeat(list(CLASSES), 2)
    matcher = SiameseMatcher(epochs=1, batch_size=4, validation_fraction=0, random_state=0, device="cpu")
    matcher.fit(SpectralPreprocessing()(x), y)
    with torch.no_grad():
        matcher.loss_.head.weight.fill_(-1.0)
        matcher.loss_.head.bias.fill_(2.0)
    return matcher


@pytest.fixture
def library(model):
    rng = np.random.default_rng(0)
    lib = ReferenceLibrary(model, GRID, SpectralPreprocessing())
    names = ["Albite", "Calcite", "Quartz"]
    lib.add(np.stack([peaks(CLASSES[n], rng) for n in names]), names, ids=["a", "c", "q"])
    return lib


def count_rows(matcher):
    """A counter of the spectra passed through the backbone (forward hook)."""
    seen = {"rows": 0}
    matcher.net_.backbone.register_forward_hook(lambda module, inputs, output: seen.__setitem__("rows", seen["rows"] + len(output)))
    return seen


def test_add_embeds_only_the_new_spectra_and_leaves_the_network_alone(library):
    rng = np.random.default_rng(1)
    weights = {k: v.clone() for k, v in library.matcher_.net_.state_dict().items()}
    old = library.embeddings_.copy()
    seen = count_rows(library.matcher_)
    library.add(np.stack([peaks(CLASSES["Gypsum"], rng), peaks(CLASSES["Gypsum"], rng, 0.01)]), "Gypsum")
    assert seen["rows"] == 2  # the two new spectra, none of the three stored ones
    assert np.array_equal(library.embeddings_[:3], old)  # old references untouched
    assert all(torch.equal(weights[k], v) for k, v in library.matcher_.net_.state_dict().items())
    assert list(library.classes_) == ["Albite", "Calcite", "Gypsum", "Quartz"]
    query = peaks(CLASSES["Gypsum"], rng, noise=0.005)
    answer = library.query(query, top_k=2)[0]
    assert answer[0].label == "Gypsum"
    assert answer[0].similarity >= answer[1].similarity
    assert seen["rows"] == 3  # the query: one more row, references not re-embedded


def test_query_ranks_classes_by_their_best_reference_in_batches(library):
    rng = np.random.default_rng(2)
    names = ["Quartz", "Albite", "Calcite", "Quartz"]
    queries = np.stack([peaks(CLASSES[n], rng, noise=0.005) for n in names])
    library.batch_size = 3  # queries cross a batch boundary
    answers = library.query(queries, top_k=10)
    assert [a[0].label for a in answers] == names
    assert all(len(a) == 3 for a in answers)  # top_k is capped at the number of classes
    assert all(len({m.label for m in a}) == 3 for a in answers)  # each class once
    sims = [[m.similarity for m in a] for a in answers]
    assert all(s == sorted(s, reverse=True) for s in sims)
    assert answers[0][0].reference == "q"


def test_remove_takes_a_class_out_of_the_answers(library):
    rng = np.random.default_rng(3)
    query = peaks(CLASSES["Quartz"], rng, noise=0.005)
    assert library.query(query, top_k=1)[0][0].label == "Quartz"
    assert library.remove("Quartz") == 1
    answer = library.query(query, top_k=5)[0]
    assert "Quartz" not in {m.label for m in answer} and len(answer) == 2
    with pytest.raises(UserError, match="no class 'Quartz'"):
        library.remove("Quartz")
    with pytest.raises(UserError, match="did you mean 'Albite'"):
        library.remove("albite")


def test_save_and_load_give_identical_answers(library, tmp_path):
    rng = np.random.default_rng(4)
    queries = np.stack([peaks(CLASSES[n], rng, noise=0.01) for n in ("Albite", "Quartz", "Calcite")])
    before = library.query(queries, top_k=3)
    path = library.save(tmp_path / "minerals.lib")
    loaded = ReferenceLibrary.load(path)
    assert loaded.references == library.references
    assert np.array_equal(loaded.embeddings_, library.embeddings_)
    assert np.array_equal(loaded.wavenumbers, GRID)
    assert loaded.query(queries, top_k=3) == before  # same labels, same similarities, same references
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_bad_inputs_are_user_errors(library, model, tmp_path):
    rng = np.random.default_rng(5)
    with pytest.raises(UserError, match="899 points.*900"):
        library.query(np.ones(899))
    with pytest.raises(UserError, match="NaN"):
        spectrum = peaks(CLASSES["Albite"], rng)
        spectrum[10] = np.nan
        library.add(spectrum, "Albite")
    with pytest.raises(UserError, match="does not cover"):
        library.query(np.ones(300), wavenumbers=np.linspace(50, 700, 300))
    with pytest.raises(UserError, match="labels"):
        library.add(np.ones((2, 900)), ["a", "b", "c"])
    with pytest.raises(UserError, match="top_k"):
        library.query(np.ones(900), top_k=0)
    with pytest.raises(ValueError, match="empty"):  # not fitted: scikit-learn's NotFittedError, a ValueError
        ReferenceLibrary(model, GRID).query(np.ones(900))
    with pytest.raises(UserError, match="no trained matcher"):
        ReferenceLibrary(None, GRID).add(np.ones(900), "Albite")
    with pytest.raises(UserError, match="does not exist"):
        ReferenceLibrary.load(tmp_path / "missing.lib")
    (tmp_path / "junk.lib").write_text("not a library")
    with pytest.raises(UserError, match="not a readable"):
        ReferenceLibrary.load(tmp_path / "junk.lib")


def test_spectra_on_another_axis_are_resampled_onto_the_grid(library):
    rng = np.random.default_rng(6)
    axis = np.arange(398.0, 4002.0, 1.93)
    fine = 0.05 + sum(np.exp(-0.5 * ((axis - c) / 15.0) ** 2) for c in CLASSES["Calcite"])
    on_grid = library.to_grid(fine, wavenumbers=axis)
    assert on_grid.shape == (1, 900)
    assert np.allclose(on_grid[0], peaks(CLASSES["Calcite"], rng), atol=5e-3)  # linear interpolation error
    assert library.query(fine, wavenumbers=axis, top_k=1)[0][0].label == "Calcite"


# -- the command line ------------------------------------------------------------------------------
def write_rruff(path, name, centres, lo=380.0, hi=4010.0):
    axis = np.arange(lo, hi, 1.93)
    values = 0.05 + sum(np.exp(-0.5 * ((axis - c) / 15.0) ** 2) for c in centres)
    header = f"##NAMES={name}\n##RRUFFID=T{abs(hash(name)) % 1000:03d}\n" if name else ""
    path.write_text(header + "\n".join(f"{w:.4f}, {v:.6f}" for w, v in zip(axis, values)) + "\n##END=\n")
    return path


def run_cli(capsys, *args):
    status = library_main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_library_cli_round_trip_and_errors(tmp_path, capsys):
    lib = tmp_path / "minerals.lib"
    status, out, err = run_cli(capsys, "build", lib, "--epochs", "1", "--no-references", "--no-progress")
    assert status == 0, err
    status, _, err = run_cli(capsys, "query", lib, write_rruff(tmp_path / "q.txt", "Calcite", CLASSES["Calcite"]))
    assert status == 2 and "empty" in err and err.count("\n") == 1
    files = [write_rruff(tmp_path / f"{n}.txt", n, CLASSES[n]) for n in ("Albite", "Calcite", "Quartz")]
    status, out, err = run_cli(capsys, "add", lib, *files)
    assert status == 0, err
    assert "3 references of 3 classes" in out
    status, out, _ = run_cli(capsys, "query", lib, files[1], "--top-k", "2")
    assert status == 0 and out.count("\n") == 3 and "Calcite" in out
    status, out, _ = run_cli(capsys, "remove", lib, "Quartz")
    assert status == 0 and "2 references of 2 classes" in out
    status, out, _ = run_cli(capsys, "info", lib, "--classes")
    assert status == 0 and "Quartz" not in out and "Albite" in out
    for args, fragment in [
        (("remove", lib, "Unobtainium"), "no class 'Unobtainium'"),
        (("add", lib, write_rruff(tmp_path / "far.txt", "Far", [300], lo=50, hi=700)), "does not cover"),
        (("add", lib, write_rruff(tmp_path / "anon.txt", None, [900])), "--label"),
        (("query", tmp_path / "nope.lib", files[0]), "does not exist"),
        (("query", lib, tmp_path / "missing.txt"), "does not exist"),
        (("frobnicate",), "invalid choice"),
    ]:
        status, _, err = run_cli(capsys, *args)
        assert status == 2, (args, err)
        assert fragment in err and err.startswith("error: ") and err.count("\n") == 1


def test_a_library_is_a_nearest_reference_classifier(library):
    rng = np.random.default_rng(7)
    names = ["Calcite", "Albite", "Quartz"]
    queries = np.stack([peaks(CLASSES[n], rng, noise=0.005) for n in names])
    assert list(library.predict(queries)) == names
    scores = library.decision_function(queries)
    assert scores.shape == (3, 3) and list(library.classes_[scores.argmax(1)]) == names
    # fit() trains an untrained matcher on its data and holds exactly that data as references
    x = np.stack([peaks(CLASSES[n], rng, 0.01) for n in names for _ in range(2)])
    fitted = ReferenceLibrary(NearestCosine(), GRID).fit(x, np.repeat(names, 2))
    assert len(fitted) == 6 and list(fitted.predict(queries)) == names


def test_a_library_file_of_the_first_format_still_loads(library, tmp_path):
    """Version 1 stored a SiameseSpectra model: backbone.* and head.* weights in one state dict."""
    matcher = library.matcher_
    weights = {**matcher.net_.state_dict(), **matcher.loss_.state_dict()}
    spec = matcher.net_.spec()
    state = {"format": "dissim-reference-library", "version": 1, "dissim": "0.1.0",
             "model": {"length": 900, "features": "sigmoid", "topology": spec["topology"]}, "state_dict": weights,
             "wavenumbers": torch.as_tensor(GRID), "axis": library.axis, "preprocessing": library.preprocessing.to_dict(),
             "info": {}, "embeddings": torch.as_tensor(library.embeddings_), "labels": list(library.labels_),
             "ids": list(library.ids_)}
    torch.save(state, tmp_path / "old.lib")
    loaded = ReferenceLibrary.load(tmp_path / "old.lib")
    query = np.ones(900)
    assert loaded.query(query, top_k=3) == library.query(query, top_k=3)
