"""What a training needs in memory, estimated from its layer table before anything is built, and the
check that the machine can hold it (a line with the numbers instead of an allocator error or an
out-of-memory kill after the work has started).

The estimate of one twin's training: 16 bytes per learnable parameter (float32 weights, gradients
and two Adam moments); a batch's activations, 8 bytes per value of every layer's output for every
input of the batch (float32, kept for the backward pass and its gradient); the training inputs on
the device; and the drawn batches of an epoch (8-byte indices, moved to the device) with the 4-byte
loss of every step. It is a lower bound of what training takes, so a refusal is never wrong.
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
    values = channels * size ** topology.dims + sum(math.prod(s.shape) for s in shapes)
    return {
        f"parameters ({parameters:,})": 16 * parameters,
        f"the activations of a batch of {batch_size:,} x {arity}": 8 * batch_size * arity * values,
        f"the {items:,} training inputs": items * channels * size ** topology.dims * item_bytes,
        f"the drawn batches ({steps:,} steps per epoch)": 2 * 8 * steps * batch_size * arity + 4 * steps * epochs,
    }


def check_training_fits(topology: Topology, channels: int, size: int, *, batch_size: int, arity: int, steps: int,
                        device: str, epochs: int = 1, items: int = 0, item_bytes: int = 1, what: str = "") -> None:
    """UserError with the numbers when the training cannot fit in ``device``'s memory."""
    parts = training_bytes(topology, channels, size, batch_size=batch_size, arity=arity, steps=steps, epochs=epochs,
                           items=items, item_bytes=item_bytes)
    check_memory(parts, device, what or f"training {topology.name} at {size}")
