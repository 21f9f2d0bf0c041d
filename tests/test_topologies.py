"""The eight Siamese backbones (topologies/sn1.toml … sn8.toml) against the paper and the authors' code.

Expected tables are written here by hand from Appendix A of Nanni et al., Sensors 2021, 21, 5809
(shared/papers/nanni2021-closing-the-gap-siamese-dissimilarity.txt) and, where that table is not
self-consistent (Topologies 5, 7 and 8), from the sizes derived from the authors' MATLAB code
(shared/papers/nanni-matlab-code-notes.md §2). Learnables are for grey (1-channel) input, as in the
paper: e.g. conv1 of Topology 1 has 10·10·1·64 + 64 = 6464.

The generic tests (minimum input, DEEPER/DCT length, two training iterations) run over every
packaged topology, so a newly added layer table is covered too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

import dissim.nets
from dissim.errors import UserError
from dissim.nets import get_topology, list_topologies, parse_topology
from dissim.space import dct_reduce
from dissim.train import ClassBalancedPairSampler, create_loss, fit

PAPER = [f"sn{i}" for i in range(1, 9)]
GENERIC = list_topologies()  # every packaged (and registered) topology


def conv(k: int, c_in: int, filters: int, groups: int = 1) -> int:
    """Learnables of a k x k convolution with bias."""
    return k * k * (c_in // groups) * filters + filters


def fc(n_in: int, units: int) -> int:
    return n_in * units + units


# (layer, output shape (C, H, W) or (units,), learnables) at 224 x 224, 1 channel.
# Topologies 1-4 and 6: the paper's Appendix A numbers, literally.
EXPECTED = {
    "sn1": [
        ("conv1", (64, 215, 215), 6_464), ("relu1", (64, 215, 215), 0), ("pool1", (64, 107, 107), 0),
        ("conv2", (128, 101, 101), 401_536), ("relu2", (128, 101, 101), 0), ("pool2", (128, 50, 50), 0),
        ("conv3", (128, 47, 47), 262_272), ("relu3", (128, 47, 47), 0), ("pool3", (128, 23, 23), 0),
        ("conv4", (64, 19, 19), 204_864), ("relu4", (64, 19, 19), 0),
        ("fc", (4096,), 94_638_080),
    ],
    "sn2": [  # LeakyReLU after every convolution; a 2048-unit FC
        ("conv11", (64, 220, 220), 1_664), ("act11", (64, 220, 220), 0),
        ("conv12", (64, 216, 216), 102_464), ("act12", (64, 216, 216), 0),
        ("pool1", (64, 108, 108), 0),
        ("conv21", (128, 106, 106), 73_856), ("act21", (128, 106, 106), 0),
        ("conv22", (128, 104, 104), 147_584), ("act22", (128, 104, 104), 0),
        ("pool2", (128, 52, 52), 0),
        ("conv31", (128, 49, 49), 262_272), ("act31", (128, 49, 49), 0),
        ("pool3", (128, 24, 24), 0),
        ("conv41", (64, 20, 20), 204_864), ("act41", (64, 20, 20), 0),
        ("fc", (2048,), 52_430_848),
    ],
    "sn3": [
        ("conv1", (128, 55, 55), 6_400), ("pool1", (128, 27, 27), 0),
        ("conv2", (256, 23, 23), 819_456), ("relu1", (256, 23, 23), 0),
        ("conv3", (128, 19, 19), 819_328), ("pool2", (128, 9, 9), 0),
        ("conv4", (64, 7, 7), 73_792), ("relu2", (64, 7, 7), 0), ("pool3", (64, 3, 3), 0),
        ("fc", (4096,), 2_363_392),
    ],
    "sn4": [  # the paper's single "Max Pooling 54 x 54, 4 x 4" is the code's pool -> ReLU -> pool (see below)
        ("conv1", (128, 218, 218), 6_400), ("pool1", (128, 109, 109), 0), ("relu1", (128, 109, 109), 0),
        ("pool2", (128, 54, 54), 0),
        ("conv2", (256, 50, 50), 819_456), ("relu2", (256, 50, 50), 0),
        ("conv3", (64, 48, 48), 147_520), ("pool3", (64, 24, 24), 0),
        ("conv4", (128, 22, 22), 73_856), ("relu3", (128, 22, 22), 0),
        ("conv5", (64, 18, 18), 204_864),
        ("fc", (4096,), 84_938_752),
    ],
    # Topology 5: the paper's 26 -> 9 step is impossible with a 5x5 kernel, so this follows the code
    # (notes §2, metodo 6): an extra conv3 5x5x64 + pool2, ending 4 x 4 x 64; two ReLUs only.
    "sn5": [
        ("conv1", (64, 215, 215), 6_464), ("relu1", (64, 215, 215), 0), ("pool1", (64, 107, 107), 0),
        ("conv2", (128, 26, 26), 401_536),               # paper: 26 x 26 x 128, 401,536
        ("conv3", (64, 22, 22), conv(5, 128, 64)),       # 204,864 (not in the paper)
        ("pool2", (64, 11, 11), 0),                      # (not in the paper)
        ("conv4", (128, 7, 7), conv(5, 64, 128)),        # 204,928 (paper: 9 x 9 x 128, 409,728)
        ("conv5", (64, 4, 4), 131_136),                  # paper: 6 x 6 x 64, 131,136
        ("relu2", (64, 4, 4), 0),
        ("fc", (4096,), fc(4 * 4 * 64, 4096)),           # 4,198,400 (paper: 9,441,280)
    ],
    # Topology 6: sizes and learnables are the paper's; ReLUs where the code has them (three).
    "sn6": [
        ("conv1", (64, 218, 218), 3_200), ("pool1", (64, 109, 109), 0), ("relu1", (64, 109, 109), 0),
        ("conv2", (128, 107, 107), 73_856), ("pool2", (128, 53, 53), 0), ("relu2", (128, 53, 53), 0),
        ("conv3", (64, 53, 53), 8_256),
        ("conv4", (128, 51, 51), 73_856), ("pool3", (128, 25, 25), 0),
        ("conv5", (128, 25, 25), 16_512),
        ("conv6", (64, 22, 22), 131_136), ("pool4", (64, 11, 11), 0), ("relu3", (64, 11, 11), 0),
        ("fc", (4096,), 31_723_520),
    ],
    # Topology 7: the paper's table stops at 11 x 11 x 256 but its FC count (16,781,312) needs
    # 4 x 4 x 256 inputs; the code's fifth stage (conv5 3x3x256 + pool5) gives exactly that.
    "sn7": [
        ("dropout", (1, 224, 224), 0),
        ("conv1", (64, 218, 218), 3_200), ("pool1", (64, 109, 109), 0),
        ("conv2", (128, 105, 105), 204_928), ("pool2", (128, 52, 52), 0),
        ("conv3", (64, 48, 48), 204_864), ("pool3", (64, 24, 24), 0),
        ("conv4", (256, 22, 22), 147_712), ("pool4", (256, 11, 11), 0),
        ("conv5", (256, 9, 9), conv(3, 256, 256)),       # 590,080 (code; missing from the paper)
        ("pool5", (256, 4, 4), 0),                       # (code; missing from the paper)
        ("fc", (4096,), 16_781_312),                     # = the paper's count
    ],
    # Topology 8: the code's stride-4 conv1 and 2 x 64 / 2 x 256 grouped convs (notes §2, metodo 13),
    # not the paper's stride-1 net with a 2,218,790,912-learnable FC.
    "sn8": [
        ("conv1", (32, 54, 54), 3_232),                  # paper: 215 x 215 x 32 (stride 1), 3,232
        ("relu1", (32, 54, 54), 0), ("pool1", (32, 27, 27), 0),
        ("group1", (128, 21, 21), conv(7, 32, 128, groups=2)),   # 100,480 (paper: 64 channels, 50,240)
        ("conv2", (128, 17, 17), conv(5, 128, 128)),             # 409,728 (paper: 204,928, from 64 channels)
        ("relu2", (128, 17, 17), 0), ("pool2", (128, 8, 8), 0),
        ("group2", (512, 6, 6), conv(3, 128, 512, groups=2)),    # 295,424 (paper: 256 channels, 147,712)
        ("fc", (4096,), fc(6 * 6 * 512, 4096)),                  # 75,501,568 (paper: 2,218,790,912)
    ],
}

# The notes' §2 DEEPER table, first column ("layer before the last ReLU"; T7 has no ReLU: the layer
# before the FC), at 224 x 224.
DEEPER = {
    "sn1": ("conv4", (64, 19, 19)),
    "sn2": ("conv41", (64, 20, 20)),
    "sn3": ("conv4", (64, 7, 7)),
    "sn4": ("conv4", (128, 22, 22)),
    "sn5": ("conv5", (64, 4, 4)),
    "sn6": ("pool4", (64, 11, 11)),
    "sn7": ("pool5", (256, 4, 4)),
    "sn8": ("conv2", (128, 17, 17)),
}

# Smallest input side, derived by hand backwards from the last spatial layer (each layer needs an
# output of at least 1: a k x k stride-1 conv needs n >= k, a 2x2 pool n >= 2, and an input n for a
# stride-s conv/pool needs (n - k) // s + 1 >= the next layer's need):
#   sn1: conv4 5 <- pool3 10 <- conv3 13 <- pool2 26 <- conv2 32 <- pool1 64 <- conv1 (10) 73
#   sn2: conv41 5 <- pool3 10 <- conv31 13 <- pool2 26 <- conv22 28 <- conv21 30 <- pool1 60
#        <- conv12 64 <- conv11 68
#   sn3: pool3 2 <- conv4 4 <- pool2 8 <- conv3 12 <- conv2 16 <- pool1 32 <- conv1 (7, s4):
#        (n - 7) // 4 + 1 >= 32 -> n >= 131
#   sn4: conv5 5 <- conv4 7 <- pool3 14 <- conv3 16 <- conv2 20 <- pool2 40 <- pool1 80 <- conv1 86
#   sn5: conv5 4 <- conv4 8 <- pool2 16 <- conv3 20 <- conv2 (7, s4): n >= 83 <- pool1 166 <- conv1 175
#   sn6: pool4 2 <- conv6 5 <- conv5 5 <- pool3 10 <- conv4 12 <- conv3 12 <- pool2 24 <- conv2 26
#        <- pool1 52 <- conv1 58
#   sn7: pool5 2 <- conv5 4 <- pool4 8 <- conv4 10 <- pool3 20 <- conv3 24 <- pool2 48 <- conv2 52
#        <- pool1 104 <- conv1 110
#   sn8: group2 3 <- pool2 6 <- conv2 10 <- group1 16 <- pool1 32 <- conv1 (10, s4):
#        (n - 10) // 4 + 1 >= 32 -> n >= 134
MIN_INPUT = {"sn1": 73, "sn2": 68, "sn3": 131, "sn4": 86, "sn5": 175, "sn6": 58, "sn7": 110, "sn8": 134}

EMBEDDING = {"sn2": 2048}  # all others: 4096


def toml_inline(layer: dict) -> str:
    """A layer dict as a TOML inline table (str, int, float and bool values)."""
    def value(v):
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else repr(v)
    return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in layer.items()) + " }"


def input_shape(topology, size: int, channels: int = 1, batch: int = 1) -> tuple[int, ...]:
    return (batch, channels) + (size,) * topology.dims


# -- the layer tables ----------------------------------------------------------------------------

def test_the_eight_paper_topologies_are_registered():
    assert set(PAPER) <= set(list_topologies())
    assert [n for n in list_topologies() if n in PAPER] == PAPER  # natural order


@pytest.mark.parametrize("name", PAPER)
def test_layer_shapes_and_learnables_match_the_paper(name):
    shapes = get_topology(name).layer_shapes(1, 224)
    assert [(s.name, s.shape, s.learnables) for s in shapes] == EXPECTED[name]


@pytest.mark.parametrize("name", PAPER)
def test_built_module_has_the_table_learnables(name):
    backbone = dissim.nets.build(name, in_channels=1, input_size=224)  # no forward pass at 224
    try:
        got = [(n, sum(p.numel() for p in module.parameters())) for n, module in backbone.layers.named_children()]
        assert got == [(layer, learn) for layer, _, learn in EXPECTED[name]]
        assert backbone.embedding_dim == EMBEDDING.get(name, 4096)
        assert backbone.deeper_shape == DEEPER[name][1]
    finally:
        del backbone


@pytest.mark.parametrize("name", PAPER)
def test_deeper_layer_and_shape_at_224(name):
    topology = get_topology(name)
    layer, shape = DEEPER[name]
    assert topology.deeper == layer
    assert topology.deeper_shape(1, 224) == shape
    assert topology.deeper_shape(3, 224) == shape  # channels only change conv1's learnables


def test_sn2_uses_leaky_relu_with_slope_001_after_every_conv():
    layers = get_topology("sn2").layers
    for layer, following in zip(layers, layers[1:]):
        if layer["type"] == "conv":
            assert following["type"] == "leakyrelu" and following["slope"] == 0.01
    assert not any(layer["type"] == "relu" for layer in layers)


def test_sn7_has_input_dropout_and_no_relu():
    layers = get_topology("sn7").layers
    assert layers[0]["type"] == "dropout" and layers[0].get("p", 0.5) == 0.5
    assert not any(layer["type"] in ("relu", "leakyrelu") for layer in layers)


def test_sn8_grouped_convs_use_matlab_default_glorot_init():
    torch.manual_seed(0)
    backbone = dissim.nets.build("sn8", in_channels=1, input_size=MIN_INPUT["sn8"])
    for name, groups in (("group1", 2), ("group2", 2)):
        module = getattr(backbone.layers, name)
        assert module.groups == groups
        assert torch.count_nonzero(module.bias) == 0  # MATLAB default: zero bias
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
        bound = math.sqrt(6.0 / (fan_in + fan_out))  # Glorot-uniform: U(-bound, bound)
        assert module.weight.abs().max() <= bound
        assert module.weight.std().item() == pytest.approx(bound / math.sqrt(3.0), rel=0.05)
    assert backbone.layers.conv2.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.count_nonzero(backbone.layers.conv2.bias) > 0  # narrow-normal bias


def test_sn4_code_pooling_equals_the_papers_single_4x4_pool():
    """conv1 -> pool 2 -> ReLU -> pool 2 (code) is conv1 -> pool 4 (stride 4) -> ReLU (paper)."""
    code = get_topology("sn4")
    layers = list(code.layers)
    i = [layer["name"] for layer in layers].index("pool1")
    paper_layers = layers[:i] + [{"name": "pool1", "type": "maxpool", "kernel": 4, "stride": 4},
                                 {"name": "relu1", "type": "relu"}] + layers[i + 3:]
    paper = parse_topology('name = "sn4paper"\ndeeper = "conv4"\nlayers = [\n'
                           + ",\n".join(toml_inline(layer) for layer in paper_layers) + "\n]\n")
    for size in (86, 87, 88, 89, 97, 224):
        a = [s.shape for s in code.layer_shapes(1, size) if s.type != "maxpool" and s.name != "relu1"]
        b = [s.shape for s in paper.layer_shapes(1, size) if s.type != "maxpool" and s.name != "relu1"]
        assert a == b
    assert paper.min_input_size(1) == code.min_input_size(1) == MIN_INPUT["sn4"]
    torch.manual_seed(0)
    net_code = dissim.nets.Backbone(code, 1, 97)
    net_paper = dissim.nets.Backbone(paper, 1, 97)
    net_paper.load_state_dict(net_code.state_dict())
    x = torch.rand(2, 1, 97, 97) * 255
    with torch.no_grad():
        (out_a, tap_a), (out_b, tap_b) = net_code.forward_with_tap(x), net_paper.forward_with_tap(x)
    assert torch.equal(tap_a, tap_b)
    assert torch.allclose(out_a, out_b, rtol=0, atol=1e-6)


# -- minimum input -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GENERIC)
def test_minimum_input_builds_runs_and_one_less_is_a_clear_error(name):
    topology = get_topology(name)
    m = topology.min_input_size(1)
    if name in MIN_INPUT:
        assert m == MIN_INPUT[name]
    torch.manual_seed(0)
    backbone = dissim.nets.build(name, in_channels=1, input_size=m).eval()
    with torch.no_grad():
        out = backbone(torch.rand(input_shape(topology, m)) * 255)
    assert out.shape == (1, backbone.embedding_dim)
    assert torch.isfinite(out).all()
    with pytest.raises(UserError) as excinfo:
        dissim.nets.build(name, in_channels=1, input_size=m - 1)
    message = str(excinfo.value)
    assert name in message and f"at least {m}" in message


# -- DEEPER: DCT-reduced vector length -----------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in GENERIC if get_topology(n).deeper is not None])
def test_deeper_dct_length_at_the_minimum_input(name):
    topology = get_topology(name)
    m = topology.min_input_size(1)
    channels, *spatial = topology.deeper_shape(1, m)
    expected = channels * math.prod(min(9, n) for n in spatial)
    torch.manual_seed(0)
    backbone = dissim.nets.build(name, in_channels=1, input_size=m).eval()
    with torch.no_grad():
        _, tap = backbone.forward_with_tap(torch.rand(input_shape(topology, m, batch=2)) * 255)
    assert tuple(tap.shape[1:]) == (channels, *spatial)
    assert dct_reduce(tap).shape == (2, expected)


@pytest.mark.parametrize("name", PAPER)
def test_deeper_dct_length_at_224(name):
    channels, h, w = DEEPER[name][1]
    length = channels * min(9, h) * min(9, w)
    # e.g. sn1: 64 x 9 x 9 = 5184; sn5: 64 x 4 x 4 = 1024; sn7: 256 x 4 x 4 = 4096
    assert length == {"sn1": 5184, "sn2": 5184, "sn3": 3136, "sn4": 10368, "sn5": 1024,
                      "sn6": 5184, "sn7": 4096, "sn8": 10368}[name]
    tap = torch.rand(1, channels, h, w)
    assert dct_reduce(tap).shape == (1, length)


@pytest.mark.parametrize("shape", [(2, 3, 11, 7), (2, 3, 5, 4)])
def test_dct_reduce_equals_scipy_dctn_cropped(shape):
    a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    want = scipy.fft.dctn(a.astype(np.float64), norm="ortho", axes=(-2, -1))[:, :, :9, :9].reshape(shape[0], -1)
    got = dct_reduce(torch.from_numpy(a)).numpy()
    assert got.shape == want.shape == (shape[0], shape[1] * min(9, shape[2]) * min(9, shape[3]))
    assert np.max(np.abs(got - want)) <= 1e-5


@pytest.mark.parametrize("shape", [(2, 3, 13), (2, 3, 5)])
def test_dct_reduce_1d_equals_scipy_dct_cropped(shape):
    a = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    want = scipy.fft.dct(a.astype(np.float64), norm="ortho", axis=-1)[:, :, :9].reshape(shape[0], -1)
    got = dct_reduce(torch.from_numpy(a)).numpy()
    assert got.shape == want.shape == (shape[0], shape[1] * min(9, shape[2]))
    assert np.max(np.abs(got - want)) <= 1e-5


# -- training ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GENERIC)
def test_two_training_iterations_at_the_minimum_input(name):
    topology = get_topology(name)
    m = topology.min_input_size(1)
    torch.manual_seed(0)
    net = dissim.nets.SiameseNet(topology, in_channels=1, input_size=m)
    backbone = net.backbone
    loss = create_loss("bce", net.embedding_dim)
    opt = torch.optim.Adam(list(backbone.parameters()) + list(loss.parameters()), lr=1e-4)
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 3)
    images = torch.from_numpy(rng.integers(0, 256, size=input_shape(topology, m, batch=len(labels)), dtype=np.uint8))
    if topology.dims == 1:
        images = images[:, 0, :]  # spectra: (N, L)
    before = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    result = fit(net, loss, opt, images, ClassBalancedPairSampler(labels, np.random.default_rng(0)), batch_size=4,
                 steps_per_epoch=2)
    assert result.step_loss.shape == (2,)
    assert np.all(np.isfinite(result.step_loss))
    changed = {n for n, p in backbone.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed == set(before), f"parameters that did not move: {sorted(set(before) - changed)}"


# -- the listing ---------------------------------------------------------------------------------

def test_list_topologies_prints_each_with_its_parameter_count(capsys):
    from dissim.pipelines.run import main

    assert main(["--list", "topologies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in PAPER:
        line = next((ln for ln in lines if ln.split() and ln.split()[0] == name), None)
        assert line is not None, f"no line for {name}"
        params = get_topology(name).parameter_count(3, 224)
        assert f"{params:,}" in line
    # 1-channel totals are the sums of the hand tables above
    for name in PAPER:
        assert get_topology(name).parameter_count(1, 224) == sum(learn for _, _, learn in EXPECTED[name])


# -- table validation (a bad stride/padding/groups is a UserError, not a crash) --------------------

@pytest.mark.parametrize("layer", [
    '{ type = "conv", filters = 4, kernel = 3, stride = 0 }',
    '{ type = "conv", filters = 4, kernel = 3, stride = 1.5 }',
    '{ type = "conv", filters = 4, kernel = 3, stride = true }',
    '{ type = "conv", filters = 4, kernel = 3, padding = -1 }',
    '{ type = "conv", filters = 4, kernel = 3, groups = 0 }',
    '{ type = "maxpool", kernel = 2, padding = 2 }',
])
def test_invalid_layer_settings_are_user_errors(layer):
    with pytest.raises(UserError, match="layer"):
        parse_topology(f'name = "bad"\nlayers = [{layer}, {{ type = "fc", units = 2 }}]')
