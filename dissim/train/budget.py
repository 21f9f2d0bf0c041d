"""What a training needs in memory, estimated from its layer table before anything is built, and the
check that the machine can hold it (a line with the numbers instead of an allocator error or an
out-of-memory kill after the work has started).

The estimate of one twin's training is a lower bound, so that a refusal is never wrong: 8 bytes per
learnable parameter (float32 weights and their gradients; optimizer state comes on top); for every
input of a batch, 2 bytes per value that enters a conv or fc layer (what backpropagation must keep
to compute the weight gradients, at the 16-bit width of the cheapest precision); the training
inputs; and an epoch's drawn batches (8-byte indices) with the 4-byte loss of every step.
"""

from __future__ import annotations

import math

from ..hardware import check_memory
from ..nets import Topology


def training_bytes(topology: Topology, channels: int, size: int, *, batch_size: int, arity: int, steps: int,
                   epochs: int = 1, items: int = 0, item_bytes: int = 1) -> dict[str, int]:
    """The parts of a training's memory (see the module), by name."""
    shapes = topology.layer_shapes(channels, size, costs=False)
    parameters = sum(s.learnables for s in shapes)
    inputs = [(channels,) + (size,) * topology.dims] + [s.shape for s in shapes[:-1]]  # what each layer takes
    kept = sum(math.prod(shape) for shape, layer in zip(inputs, topology.layers) if layer["type"] in ("conv", "fc"))
    return {
        f"parameters ({parameters:,})": 8 * parameters,
        f"the activations of a batch of {batch_size:,} x {arity}": 2 * batch_size * arity * kept,
        f"the {items:,} training inputs": items * channels * size ** topology.dims * item_bytes,
        f"the drawn batches ({steps:,} steps per epoch)": 8 * steps * batch_size * arity + 4 * steps * epochs,
    }


def check_training_fits(topology: Topology, channels: int, size: int, *, batch_size: int, arity: int, steps: int,
                        device: str, epochs: int = 1, items: int = 0, item_bytes: int = 1, what: str = "") -> None:
    """UserError with the numbers when the training cannot fit in ``device``'s memory."""
    parts = training_bytes(topology, channels, size, batch_size=batch_size, arity=arity, steps=steps, epochs=epochs,
                           items=items, item_bytes=item_bytes)
    check_memory(parts, device, what or f"training {topology.name} at {size}")
