"""Watch the open-set Siamese-CNN of ``--pipeline openset`` train on coffee: its features before every epoch.

    python tools/openset_diagnosis.py [--topology emis-cnn1d] [--held-out Brasil] [--margin 2.5|eq10]

Trains the ``siamese-contrastive-ce`` model of ``pipelines/openset.toml`` (contrastive + cross-entropy
loss; ``--topology`` and ``--margin`` replace the recipe's) on the split and seed the run uses when
``--held-out`` is the unknown class, and prints, as initialised and after epochs 1, 2, 5, 10,
20, 40, ... (the last one shown is before the last epoch):

- eval norm / within / between / nearest: in evaluation mode, the mean feature norm, the mean
  distance of the training spectra to their class centre, the distance between the two class
  centres, and the share of training spectra nearest their own centre;
- train norm / dropout noise: in training mode, the mean feature norm and the mean distance
  between two passes of the same spectrum (0 without dropout);
- |γ|: the mean scale of the last batch normalisation;
- η: the margin the loss uses in the next epoch;

then the known-class accuracy and the share of the held-out class called unknown. The statistics
are taken through the loss's per-epoch hook (``prepare_epoch``); training is unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dissim.data import load_dataset  # noqa: E402
from dissim.data.spectral import SpectralPreprocessing  # noqa: E402
from dissim.eval.openset import OpenSetSiamese  # noqa: E402
from dissim.experiment.recipe import load_recipe  # noqa: E402
from dissim.protocols.base import task_seed  # noqa: E402
from dissim.train.losses.contrastive import ContrastiveLoss  # noqa: E402

FAMILY = "siamese-contrastive-ce"


@torch.no_grad()
def feature_statistics(net, loss, data: torch.Tensor, labels) -> dict:
    codes = torch.as_tensor(np.unique(np.asarray(labels), return_inverse=True)[1])
    was_training = net.training
    features = net.embed(data)[0].float().cpu()
    centres = torch.stack([features[codes == c].mean(0) for c in torch.unique(codes)])
    net.train()
    first, second = net(data).float().cpu(), net(data).float().cpu()
    net.train(was_training)
    norms = [m.weight.abs().mean().item() for m in net.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return {"eval norm": torch.linalg.norm(features, dim=1).mean().item(),
            "within": torch.linalg.norm(features - centres[codes], dim=1).mean().item(),
            "between": torch.cdist(centres, centres).max().item(),
            "nearest": (torch.cdist(features, centres).argmin(1) == codes).float().mean().item(),
            "train norm": torch.linalg.norm(first, dim=1).mean().item(),
            "dropout noise": torch.linalg.norm(first - second, dim=1).mean().item(),
            "|γ|": norms[-1] if norms else float("nan"), "η": float(loss.margin_value)}


@contextlib.contextmanager
def recording(epochs: list[dict]):
    """Record :func:`feature_statistics` before every epoch, after the loss's own per-epoch work."""
    original = ContrastiveLoss.prepare_epoch

    def prepare_epoch(self, net, data, labels):
        original(self, net, data, labels)
        epochs.append(feature_statistics(net, self, data, labels))

    ContrastiveLoss.prepare_epoch = prepare_epoch
    try:
        yield epochs
    finally:
        ContrastiveLoss.prepare_epoch = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", default=None)
    parser.add_argument("--held-out", default="Brasil")
    parser.add_argument("--margin", default=None, help="a number, or eq10 (the largest distance between class centres)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    s = load_recipe("openset").settings
    data = load_dataset("coffee")
    held = data.class_names.index(args.held_out)
    classes = [c for c in np.flatnonzero(data.class_counts() >= s.min_per_class)]
    rng = np.random.default_rng([args.seed, held])  # the split of the run (dissim.protocols.openset)
    train = np.sort(np.concatenate([rng.permutation(np.flatnonzero(data.labels == c))[:s.train_per_class]
                                    for c in classes if c != held]))
    test = np.setdiff1d(np.flatnonzero(np.isin(data.labels, classes)), train)
    margin = s.margin if args.margin is None else (None if args.margin == "eq10" else float(args.margin))
    model = OpenSetSiamese(topology=args.topology or s.topology, loss="contrastive-ce", margin=margin or None,
                           alpha1=s.alpha1, alpha2=s.alpha2, ce_margin=s.ce_margin, ce_weight=s.ce_weight,
                           negatives_per_positive=s.negatives_per_positive, epochs=s.epochs, batch_size=s.batch_size,
                           lr=s.lr, false_rejection=s.false_rejection, device="cpu", precision="fp32",
                           random_state=task_seed(args.seed, args.held_out, FAMILY))
    x = SpectralPreprocessing()(data.spectra)
    with torch_one_thread(), recording([]) as epochs:
        model.fit(x[train], data.labels[train])
    losses = model.history_.train_loss
    print(f"{model.topology}, held out {args.held_out}, η {'eq. 10' if margin is None else margin}")
    print(f"{'after epochs':>12} {'their loss':>11} " + " ".join(f"{k:>13}" for k in epochs[0]))
    shown = sorted({0, 1, 2, 5, 10, len(epochs) - 1} | set(range(20, len(epochs), 20)))
    for e in (e for e in shown if e < len(epochs)):  # epochs[e]: after e epochs (0: as initialised)
        loss = f"{losses[e - 1]:11.4g}" if e else f"{'':>11}"
        print(f"{e:>12} {loss} " + " ".join(f"{v:13.4g}" for v in epochs[e].values()))
    predicted, truth = model.predict(x[test]), data.labels[test]
    known = truth != held
    print(f"known classes identified {100 * np.mean(predicted[known] == truth[known]):.1f} %, "
          f"held-out spectra called unknown {100 * np.mean(predicted[~known] == 'unknown'):.1f} %")


@contextlib.contextmanager
def torch_one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    main()
