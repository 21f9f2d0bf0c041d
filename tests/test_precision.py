"""Mixed precision and the device path: what --precision resolves to, what bf16 computes in which
dtype, the training loop's host syncs, one GPU per worker, and the CUDA path where a GPU exists."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from conftest import TINY_TOPOLOGY, write_recipe

import dissim
from dissim import hardware
from dissim.errors import UserError
from dissim.nets import SiameseNet, get_topology
from dissim.space import dissimilarity
from dissim.train import TwinConfig, train_twin
from dissim.train.augment import RandomStream
from dissim.train.loop import epoch_batches
from dissim.train.samplers import SAMPLERS

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _images(n=24, size=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = (rng.integers(0, 60, (n, 1, size, size)) + labels[:, None, None, None] * 60).astype(np.uint8)
    return images, labels


def _train(precision, steps=20, device="cpu", augmentation=None):
    images, labels = _images()
    config = TwinConfig(topology=get_topology(str(TINY_TOPOLOGY)), batch_size=8, iterations=steps, lr=1e-3,
                        augmentation=augmentation)
    return train_twin(images, labels, config, seed=0, rng=np.random.default_rng(0),
                      compute=hardware.Compute.of(device, precision))


# -- what --precision resolves to ---------------------------------------------------------------
def test_auto_is_bf16_exactly_where_the_cpu_multiplies_bf16_in_hardware(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: "AMX")
    assert hardware.resolve_precision("auto", "cpu") == "bf16"
    assert hardware.resolve_precision("auto", "cpu", dims=1) == "fp32"  # spectra: measured to lose accuracy
    assert hardware.resolve_precision("bf16", "cpu", dims=1) == "bf16"
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: None)
    assert hardware.resolve_precision("auto", "cpu") == "fp32"
    assert hardware.resolve_precision("bf16", "cpu") == "bf16"  # asked for: honoured, even if slow


def test_a_run_resolves_its_precision_once_for_every_kind_of_network(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: "AVX-512-BF16")
    compute = hardware.RunCompute.resolve("cpu", "auto", jobs=2)
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: None)  # looked up, never resolved again
    assert (compute.precision(), compute.precision(dims=1)) == ("bf16", "fp32")
    assert [compute.precision(pretrained=True, size=s) for s in (None, 64, 127, 128, 224)] == \
        ["fp32", "fp32", "fp32", "bf16", "bf16"]
    assert compute.to_dict()["channels_last"] == {"images": True, "imagenet_below_128px": False,
                                                  "imagenet_from_128px": True}


def test_an_estimator_resolves_its_compute_once_and_the_twin_computes_with_it():
    images, labels = _images()
    fitted = dissim.SiameseDissimilarity(topology=str(TINY_TOPOLOGY), iterations=2, batch_size=4, prototypes=1,
                                         device="cpu", precision="bf16", random_state=0).fit(images[:, 0], labels)
    assert fitted.compute_ == hardware.Compute("cpu", "bf16", True, fitted.compute_.threads)
    assert fitted.net_.compute is fitted.compute_ and fitted.net_.channels_last


def test_auto_for_imagenet_networks_on_a_cpu_is_bf16_only_from_128_pixels(monkeypatch):
    """Where bf16 trains the depthwise convolutions faster (measured: 2.5x at 128 px, slower below)."""
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: "AVX-512-BF16")
    assert [hardware.resolve_precision("auto", "cpu", pretrained=True, size=s) for s in (None, 64, 96, 128, 224)] == \
        ["fp32", "fp32", "fp32", "bf16", "bf16"]
    assert hardware.resolve_precision("fp32", "cpu", pretrained=True, size=224) == "fp32"
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: None)
    assert hardware.resolve_precision("auto", "cpu", pretrained=True, size=224) == "fp32"  # no slower machine


def test_precision_errors_name_the_flag_and_the_fix():
    with pytest.raises(UserError, match="--precision fp16 needs a CUDA device"):
        hardware.resolve_precision("fp16", "cpu")
    with pytest.raises(UserError, match="--precision 'half'"):
        hardware.resolve_precision("half", "cpu")


def test_a_dry_run_can_plan_for_a_gpu_this_machine_lacks(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert hardware.resolve_device("cuda:1", require=False) == "cuda:1"
    assert hardware.resolve_precision("auto", "cuda", require=False) == "bf16"
    with pytest.raises(UserError, match="no CUDA device"):
        hardware.resolve_device("cuda")


def test_cpu_bf16_detection_agrees_with_the_cpu_flags():
    flags = hardware._cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo here")
    expected = bool({"amx_bf16", "avx512_bf16"} & flags) or ("bf16" in flags and "asimd" in flags)
    assert (hardware.cpu_bf16_support() is not None) == expected


# -- one GPU per worker process -------------------------------------------------------------------
def test_each_claim_takes_a_gpu_no_one_holds_then_the_one_with_most_free_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "_gpu_identity", lambda index: f"gpu{index}")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: ((10, 50, 30)[index], 100))
    held = list(hardware._GPU_LOCKS)
    try:
        claims = [hardware.claim_gpu(3, tmp_path) for _ in range(4)]  # each open file holds its own lock
    finally:
        for handle in hardware._GPU_LOCKS[len(held):]:
            handle.close()
        hardware._GPU_LOCKS[:] = held
    assert claims == [0, 1, 2, 1]


def test_plain_cpu_and_a_named_gpu_are_left_as_they_are():
    assert hardware.runtime_device("cpu") == "cpu"
    assert hardware.runtime_device("cuda:0") == "cuda:0"


# -- what bf16 computes, in which dtype -----------------------------------------------------------
def test_bf16_runs_the_inner_layers_in_bf16_and_the_last_fc_and_features_in_float32():
    net = SiameseNet(get_topology(str(TINY_TOPOLOGY)), 1, 12).to_device(hardware.Compute.of("cpu", "bf16")).eval()
    x = torch.randint(0, 255, (4, 1, 12, 12)).float()
    out, tap = net.backbone.forward_with_tap(x, hardware.autocast(torch.device("cpu"), "bf16"))
    assert tap.dtype == torch.bfloat16 and out.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in net.parameters())  # master weights stay float32
    assert net(x).dtype == torch.float32


def test_training_and_embedding_compute_the_same_features():
    twin = _train("bf16", steps=3)
    images, _ = _images()
    twin.net.eval()
    with torch.no_grad():
        forward = twin.net(torch.from_numpy(images))
    embedded, _ = twin.net.embed(images)
    assert torch.equal(forward, embedded)


def test_bf16_training_follows_fp32_and_keeps_float32_weights_and_optimizer_state():
    fp32, bf16 = _train("fp32"), _train("bf16")
    assert np.all(np.isfinite(bf16.history.step_loss))
    assert np.abs(bf16.history.step_loss - fp32.history.step_loss).mean() < 0.05
    assert all(p.dtype == torch.float32 for p in bf16.net.parameters())


def test_images_go_channels_last_under_bf16_and_stay_contiguous_in_fp32():
    topology = get_topology(str(TINY_TOPOLOGY))
    conv = lambda net: net.backbone.layers[0].weight
    assert conv(SiameseNet(topology, 1, 12).to_device(hardware.Compute.of("cpu", "bf16"))).is_contiguous(memory_format=torch.channels_last)
    assert conv(SiameseNet(topology, 1, 12).to_device(hardware.Compute.of("cpu", "fp32"))).is_contiguous()


# -- the training loop ----------------------------------------------------------------------------
def test_the_loop_reads_nothing_back_from_the_device_per_step(monkeypatch):
    """Host syncs (.item, .cpu, bool, .tolist, .numpy) happen per epoch, never per step. (torch's
    Adam reads its step counters with .item(): they live on the host, also on a GPU, so they are
    not counted.)"""
    calls = []
    for name in ("item", "cpu", "tolist", "numpy", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            if "torch/optim" not in sys._getframe(1).f_code.co_filename.replace("\\", "/"):
                calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    counts = []
    for steps in (2, 12):
        calls.clear()
        _train("fp32", steps=steps)
        counts.append(len(calls))
    # a sync in every step would add 10 for the 10 more steps; a one-off one (lazy initialisation)
    # may fall in either run (seen on an H100: 14 for 2 steps, 13 for 12)
    assert abs(counts[1] - counts[0]) <= 1, counts


def test_an_epoch_drawn_up_front_is_the_draws_of_one_sample_per_step():
    labels = np.arange(30) % 5
    upfront = SAMPLERS.get("class-balanced-pairs")(labels, np.random.default_rng(4))
    stepwise = SAMPLERS.get("class-balanced-pairs")(labels, np.random.default_rng(4))
    for index, sizes, target in epoch_batches(upfront, 6, 5, torch.device("cpu")):
        groups, expected_target = stepwise.sample(6)
        assert torch.equal(index, torch.from_numpy(np.concatenate(groups)))
        assert sizes == [len(g) for g in groups]
        assert np.array_equal(target.numpy(), expected_target)


def test_augmentation_draws_on_the_cpu_what_a_plain_seeded_generator_draws():
    stream, plain = RandomStream(7), torch.Generator().manual_seed(7)
    assert torch.equal(torch.rand(5, generator=stream.on(torch.device("cpu"))), torch.rand(5, generator=plain))


def test_fully_comparisons_in_chunks_equal_one_big_comparison(monkeypatch):
    rng = np.random.default_rng(0)
    items, prototypes = rng.random((50, 8), dtype=np.float32), rng.random((6, 8), dtype=np.float32)
    whole = dissimilarity.FullyDissimilarity().fit(prototypes).transform(items)
    monkeypatch.setattr(dissimilarity, "PAIR_ELEMENTS", 100)  # two items per chunk
    chunked = dissimilarity.FullyDissimilarity().fit(prototypes).transform(items)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5)  # cdist picks its algorithm by size: last bits differ


# -- the command line --------------------------------------------------------------------------
def test_dry_run_for_a_gpu_plans_without_one_and_a_real_run_is_exit_2(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = cli("--dry-run", "--device", "cuda")
    assert code == 0, err
    assert "device cuda, precision bf16" in out
    code, out, err = cli("--device", "cuda")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no CUDA device" in err


def test_the_resolved_precision_is_in_config_json_and_the_cache_key(cli, tmp_path, image_tree):
    recipe = write_recipe(tmp_path / "r.toml")
    common = ["--dataset", "folder", "--data-root", image_tree, "--pipeline", recipe, "--folds", "1", "--no-progress"]
    code, _, err = cli(*common, "--precision", "fp32", "--out", tmp_path / "a")
    assert code == 0, err
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["precision"] == "fp32" and config["recipe"]["profile"]["precision"] == "fp32"
    assert config["compute"]["asked_precision"] == "fp32" and set(config["compute"]["precision"].values()) == {"fp32"}
    assert config["compute"]["device"] == "cpu" and config["compute"]["jobs"] == config["jobs"]
    code, _, err = cli(*common, "--precision", "bf16", "--out", tmp_path / "b")
    # the pixel baselines need no network, and the frozen-feature baseline is float32 whatever the precision
    trainings = [line for line in err.splitlines() if not line.startswith(("baselines", "lite0-frozen-logreg"))]
    assert code == 0 and trainings and not any("cached" in line for line in trainings), err  # computed afresh
    assert json.loads((tmp_path / "b" / "config.json").read_text())["precision"] == "bf16"
    code, _, err = cli(*common, "--precision", "bf16", "--out", tmp_path / "c")
    assert code == 0 and "cached" in err.splitlines()[0], err


# -- on a GPU -----------------------------------------------------------------------------------
@CUDA
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_training_syncs_per_epoch_never_per_step(precision):
    """CUDA's sync debug mode warns at every synchronising call: as many for 2 steps as for 12, up to one
    (fp16's gradient scaler included: with fused Adam it checks for overflow on the device)."""
    import warnings

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    _train(precision, steps=2, device="cuda", augmentation="flips-greyscale")  # warm-up: kernels, allocator
    counts = []
    for steps in (2, 12):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                twin = _train(precision, steps=steps, device="cuda", augmentation="flips-greyscale")
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    # a sync in every step would add 10 for the 10 more steps; a one-off one (lazy initialisation)
    # may fall in either run (seen on an H100: 14 for 2 steps, 13 for 12)
    assert abs(counts[1] - counts[0]) <= 1, counts
    assert np.all(np.isfinite(twin.history.step_loss))
    assert twin.net.channels_last and all(p.dtype == torch.float32 for p in twin.net.parameters())


@CUDA
def test_cuda_and_cpu_fp32_training_agree():
    cpu, cuda = _train("fp32"), _train("fp32", device="cuda")
    assert np.abs(cpu.history.step_loss - cuda.history.step_loss).mean() < 0.05
