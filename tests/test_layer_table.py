"""Layer-table parsing, shape inference and the builder's agreement with it."""

import math

import pytest
import torch
from conftest import TINY_TOPOLOGY

from dissim.errors import UserError
from dissim.nets import build, get_topology, parse_topology
from dissim.nets.backbone import NARROW_NORMAL_STD


def test_sn1_shapes_and_learnables_match_the_paper_table():
    # Appendix A, Siamese Network 1, grey input: (output shape, learnables) per layer.
    expected = [
        ((64, 215, 215), 6464), ((64, 215, 215), 0), ((64, 107, 107), 0),
        ((128, 101, 101), 401536), ((128, 101, 101), 0), ((128, 50, 50), 0),
        ((128, 47, 47), 262272), ((128, 47, 47), 0), ((128, 23, 23), 0),
        ((64, 19, 19), 204864), ((64, 19, 19), 0), ((4096,), 94638080),
    ]
    shapes = get_topology("sn1").layer_shapes(1, 224)
    assert [(s.shape, s.learnables) for s in shapes] == expected


def test_builder_output_shapes_equal_the_inferred_ones():
    topology = get_topology(str(TINY_TOPOLOGY))
    backbone = build(str(TINY_TOPOLOGY), in_channels=3, input_size=19)
    x = torch.rand(2, 3, 19, 19)
    for module, inferred in zip(backbone.layers, topology.layer_shapes(3, 19)):
        x = module(x)
        assert tuple(x.shape[1:]) == inferred.shape
        assert sum(p.numel() for p in module.parameters()) == inferred.learnables


def test_forward_with_tap_returns_the_deeper_layer_from_the_same_pass():
    backbone = build(str(TINY_TOPOLOGY), in_channels=1, input_size=16)
    x = torch.rand(3, 1, 16, 16)
    out, tap = backbone.forward_with_tap(x)
    assert torch.allclose(out, backbone(x))
    assert tuple(tap.shape) == (3, 8, 5, 5)


def test_narrow_normal_initialisation():
    backbone = build("sn1", in_channels=1, input_size=73)
    weight = backbone.layers.conv2.weight
    assert abs(weight.mean().item()) < 1e-3
    assert weight.std().item() == pytest.approx(NARROW_NORMAL_STD, rel=0.05)


def test_too_small_input_is_a_clear_error():
    assert get_topology("sn1").min_input_size(1) == 73
    build("sn1", in_channels=1, input_size=73)
    with pytest.raises(UserError, match=r"sn1 needs an input of at least 73"):
        build("sn1", in_channels=1, input_size=72)


def test_flops_count_convolutions_and_fc():
    shapes = get_topology("sn1").layer_shapes(1, 224)
    conv1 = shapes[0]
    assert conv1.flops == 2 * 10 * 10 * 1 * 64 * 215 * 215
    assert shapes[-1].flops == 2 * 23104 * 4096
    assert get_topology("sn1").forward_flops(1, 224) == sum(s.flops for s in shapes)


@pytest.mark.parametrize("text, message", [
    ('layers = [{ type = "conv", filters = 4, kernel = 3 }, { type = "fc", units = 2 }]', "name"),
    ('name = "x"\nlayers = [{ type = "conve", filters = 4, kernel = 3 }]', "unknown type 'conve'"),
    ('name = "x"\nlayers = [{ type = "conv", kernel = 3 }, { type = "fc", units = 2 }]', "positive integer `filters`"),
    ('name = "x"\nlayers = [{ type = "conv", filters = 4, kernel = 3, strid = 2 }, { type = "fc", units = 2 }]',
     "unknown settings"),
    ('name = "x"\ndeeper = "nope"\nlayers = [{ type = "fc", units = 2 }]', "names no layer"),
    ('name = "x"\nlayers = [{ type = "conv", filters = 4, kernel = 3 }]', "must end in the embedding vector"),
    ('name = "x"\nlayers = [', "not valid TOML"),
])
def test_bad_tables_are_rejected_with_the_reason(text, message):
    with pytest.raises(UserError, match=message):
        parse_topology(text)


def test_grouped_convolution_counts():
    t = parse_topology('name = "g"\nlayers = [{ name = "g1", type = "conv", filters = 8, kernel = 3, groups = 2 },'
                       '{ name = "fc", type = "fc", units = 2 }]')
    g1 = t.layer_shapes(4, 5)[0]
    assert g1.learnables == (4 // 2) * 9 * 8 + 8
    assert g1.shape == (8, 3, 3)
    assert math.prod(t.layer_shapes(4, 5)[-1].shape) == 2
