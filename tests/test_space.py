"""Prototypes, the one-pass embedding, and the FULLY / DEEPER spaces."""

import numpy as np
import pytest
import scipy.fft
import torch
from conftest import TINY_TOPOLOGY

from dissim.nets import SiameseNet, get_topology
from dissim.space import (
    ClassWiseKMeans,
    DeeperDissimilarity,
    FullyDissimilarity,
    dct_reduce,
)
from dissim.train import create_loss


def test_prototypes_are_k_images_per_class_in_class_order():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(30, 1, 16, 16)).astype(np.uint8)
    labels = np.repeat([2, 0, 1], 10)
    km = ClassWiseKMeans(k=3, random_state=0).fit(images, labels)
    assert km.prototypes_.shape == (9, 1, 16, 16)
    assert list(km.prototype_labels_) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # each prototype is a centroid of its own class: inside that class's pixel range
    for proto, cls in zip(km.prototypes_, km.prototype_labels_):
        members = images[labels == cls].astype(np.float32)
        assert np.all(proto >= members.min(0) - 1e-3) and np.all(proto <= members.max(0) + 1e-3)


def test_prototypes_are_seeded():
    images = np.random.default_rng(0).integers(0, 255, size=(20, 1, 8, 8)).astype(np.uint8)
    labels = np.repeat([0, 1], 10)
    a = ClassWiseKMeans(k=4, random_state=7).fit(images, labels).prototypes_
    b = ClassWiseKMeans(k=4, random_state=7).fit(images, labels).prototypes_
    assert np.array_equal(a, b)


def test_too_few_images_for_k():
    images = np.zeros((5, 1, 4, 4))
    with pytest.raises(ValueError, match="fewer than the 3 prototypes"):
        ClassWiseKMeans(k=3).fit(images, np.array([0, 0, 1, 1, 1]))


@pytest.fixture
def trained_tiny():
    torch.manual_seed(0)
    net = SiameseNet(get_topology(str(TINY_TOPOLOGY)), in_channels=1, input_size=16)
    loss = create_loss("bce", net.embedding_dim)
    with torch.no_grad():  # a non-trivial head, as after training
        loss.head.weight.normal_(0, 1)
    return net, loss


def deeper_tap(activations):
    return dct_reduce(activations)


def test_fully_from_cached_embeddings_equals_per_pair_head(trained_tiny):
    net, loss = trained_tiny
    backbone = net.backbone
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(13, 1, 16, 16)).astype(np.uint8)
    prototypes = rng.uniform(0, 255, size=(6, 1, 16, 16)).astype(np.float32)
    fx = net.embed(images, batch_size=4)[0]
    fp = net.embed(prototypes, batch_size=4)[0]
    cached = FullyDissimilarity(loss.fully).fit(fp).transform(fx)
    backbone.eval()
    per_pair = np.empty((13, 6))
    with torch.no_grad():
        for i in range(13):
            for j in range(6):
                f1 = torch.sigmoid(backbone(torch.from_numpy(images[i:i + 1]).float()))
                f2 = torch.sigmoid(backbone(torch.from_numpy(prototypes[j:j + 1])))
                per_pair[i, j] = torch.sigmoid(loss.head(f1, f2)).item()
    assert cached.shape == (13, 6)
    assert np.max(np.abs(cached - per_pair)) <= 1e-5


def test_fully_triplet_is_euclidean_distance():
    loss = create_loss("triplet", 5)
    fx, fp = torch.rand(7, 5), torch.rand(3, 5)
    got = FullyDissimilarity(loss.fully).fit(fp).transform(fx)
    want = np.sqrt(((fx[:, None, :] - fp[None]) ** 2).sum(-1).numpy() + 1e-6)
    assert np.allclose(got, want, atol=1e-5)


def test_each_image_goes_through_the_backbone_once(trained_tiny):
    net, _ = trained_tiny
    seen = []
    net.backbone.layers.conv1.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[0]))
    images = np.zeros((37, 1, 16, 16), dtype=np.uint8)
    features, deeper = net.embed(images, batch_size=10, tap=deeper_tap)
    assert sum(seen) == 37 and len(seen) == 4  # batched, one pass serving FULLY and DEEPER
    assert features.shape == (37, 16)
    assert deeper.shape == (37, 8 * 5 * 5)


def test_deeper_is_cosine_distance_of_dct_vectors(trained_tiny):
    net, _ = trained_tiny
    backbone = net.backbone
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, size=(5, 1, 16, 16)).astype(np.uint8)
    protos = rng.integers(0, 255, size=(3, 1, 16, 16)).astype(np.float32)
    ex = net.embed(images, tap=deeper_tap)[1].numpy()
    ep = net.embed(protos, tap=deeper_tap)[1].numpy()
    backbone.eval()
    with torch.no_grad():
        tap = backbone.forward_with_tap(torch.from_numpy(images).float())[1].numpy()
    manual = scipy.fft.dctn(tap, norm="ortho", axes=(-2, -1))[:, :, :9, :9].reshape(5, -1)
    assert np.allclose(ex, manual, atol=1e-4)
    got = DeeperDissimilarity().fit(ep).transform(ex)
    cos = (ex @ ep.T) / np.linalg.norm(ex, axis=1)[:, None] / np.linalg.norm(ep, axis=1)[None]
    assert np.allclose(got, 1 - cos, atol=1e-5)


def test_dct_reduce_crops_the_orthonormal_dct():
    a = np.random.default_rng(0).normal(size=(2, 3, 12, 10)).astype(np.float32)
    got = dct_reduce(torch.from_numpy(a)).numpy()
    want = scipy.fft.dctn(a, norm="ortho", axes=(-2, -1))[:, :, :9, :9].reshape(2, -1)
    assert np.max(np.abs(got - want)) <= 1e-5
