"""Plugging in optimizers: a dotted path trains a member end to end (the documented example runs in
tests/test_docs.py)."""

import csv

from conftest import write_recipe


def test_dotted_path_optimizer_trains_a_member_end_to_end(cli, image_tree, tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "myopt.py").write_text(
        "import torch\n"
        "calls = []\n"
        "def make(params, lr, niter, **options):\n"
        "    calls.append(niter)\n"
        "    return torch.optim.SGD(params, lr=lr * 10, momentum=0.5)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    recipe = write_recipe(tmp_path / "r.toml", iterations=4)
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe,
                         "--optimizers", "myopt:make", "--folds", "1", "--out", tmp_path / "o", "--no-progress")
    assert status == 0, err
    import myopt

    assert myopt.calls == [4]  # the factory got niter = the profile's iterations
    rows = list(csv.DictReader((tmp_path / "o" / "table.csv").open()))
    assert rows[0]["method"] == "tiny-bce-myopt.make-fully-k2"


def test_paper_optimizers_run_as_members(cli, image_tree, tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", methods=("CrossDD",))
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe,
                         "--optimizers", "decaydgrad,dgrad", "--folds", "1", "--out", tmp_path / "o", "--no-progress")
    assert status == 0, err
    names = [r["method"] for r in csv.DictReader((tmp_path / "o" / "table.csv").open())]
    assert names[:2] == ["tiny-bce-decaydgrad-fully-k2", "tiny-bce-dgrad-fully-k2"]


def test_list_optimizers(cli):
    status, out, _ = cli("--list", "optimizers")
    assert status == 0 and {"adam", "dgrad", "decaydgrad"} <= set(out.split())


def test_a_diverging_optimizer_is_a_clear_error(cli, image_tree, tmp_path, monkeypatch):
    (tmp_path / "wild.py").write_text(
        "import torch\n"
        "def make(params, lr, niter, **options):\n"
        "    return torch.optim.SGD(params, lr=1e30)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = write_recipe(tmp_path / "r.toml", iterations=6)
    status, _, err = cli("--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe,
                         "--optimizers", "wild:make", "--folds", "1", "--out", tmp_path / "o", "--no-progress")
    assert status == 2 and "diverged" in err and "Traceback" not in err
