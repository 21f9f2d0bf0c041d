"""The command line reads right: its entry points and names, help, listings, counts and figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dissim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_dissim_is_the_dissim_command():
    run = subprocess.run([sys.executable, "-m", "dissim", "run", "--list", "protocols"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ensemble", "oneshot", "openset", "verify"]
    usage = subprocess.run([sys.executable, "-m", "dissim", "--help"], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: python -m dissim ")


@pytest.mark.parametrize("argv, prog, expected", [
    (["library", "--help"], "dissim", "usage: dissim library "),
    (["run", "--help"], "dissim", "usage: dissim run "),
    (["library", "--help"], "python -m dissim", "usage: python -m dissim library "),
])
def test_subcommand_help_names_the_command_that_was_typed(capsys, argv, prog, expected):
    with pytest.raises(SystemExit):
        main(argv, prog)
    assert capsys.readouterr().out.startswith(expected)


def test_the_shims_keep_their_own_names(capsys):
    from dissim.cli import library_main, run_main

    for shim, expected in ((run_main, "usage: python -m dissim.pipelines.run "),
                           (library_main, "usage: python -m dissim.library ")):
        with pytest.raises(SystemExit):
            shim(["--help"])
        assert capsys.readouterr().out.startswith(expected)


def test_help_names_every_protocols_default_data_set(capsys):
    from dissim.protocols import PROTOCOLS

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    start = text.index("--dataset DATASET registered")
    dataset_help = text[start:text.index("--data-root", start + 20)]
    for name in PROTOCOLS.names():
        default = PROTOCOLS.get(name).default_dataset
        assert default in dataset_help and name in dataset_help, (name, default, dataset_help)


@pytest.mark.parametrize("what", ["pipelines", "datasets"])
def test_list_columns_start_at_the_same_place_on_every_line(capsys, what, monkeypatch):
    if what == "pipelines":  # a name longer than any packaged one
        import dissim.experiment as experiment

        packaged = experiment.list_pipelines()
        monkeypatch.setattr(experiment, "list_pipelines",
                            lambda: [*packaged, ("a-very-long-recipe-name-indeed", "ensemble", "long")])
    assert main(["run", "--list", what]) == 0
    lines = capsys.readouterr().out.splitlines()
    words = [line.split() for line in lines]
    for column in range(1, 3 if what == "pipelines" else 2):
        starts = {line.index(" " + w[column], len(" ".join(w[:column])) - 1) + 1 for line, w in zip(lines, words)}
        assert len(starts) == 1, (column, starts)


def test_counts_agree_in_number():
    from dissim.eval.report import count

    assert count(1, "fold") == "1 fold"
    assert count(3, "fold") == "3 folds"
    assert count(1, "random split") == "1 random split"
    assert count(1200, "training") == "1,200 trainings"


def test_loss_panels_keep_first_step_spikes_off_the_axis(tmp_path):
    from dissim.eval.report import Figure
    from dissim.experiment.figures import _pyplot, curves, robust_top, write_figures

    steps = np.arange(1, 101)
    spiky = [{"label": f"run {i}", "x": steps, "y": np.r_[50.0, np.full(99, 0.5 + 0.1 * i)]} for i in range(3)]
    assert robust_top(spiky) == pytest.approx(0.7)
    panels = [{"title": "bce loss", "ylabel": "bce", "curves": spiky},
              {"title": "triplet loss", "ylabel": "triplet", "curves": [{"label": "t", "x": steps, "y": 3 - steps / 50}]}]
    plt = _pyplot()
    fig = curves(plt, {"panels": panels, "xlabel": "iteration"})
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["bce loss", "triplet loss"]
    assert axes[0].get_ylim()[1] < 1.0  # the 50.0 of the first step would flatten the curves at the bottom
    assert axes[1].get_ylim()[1] >= 3 - 1 / 50  # no spike: the whole curve is shown
    plt.close(fig)
    written = write_figures(tmp_path, [Figure("loss.png", "curves", {"panels": panels, "xlabel": "iteration"})])
    assert [p.name for p in written] == ["loss.png"]
