"""The sampler registry: every sampler module registers its class here by name."""

from __future__ import annotations

from ...registry import Registry

SAMPLERS = Registry("sampler")  # the built-in samplers register themselves when dissim.train.samplers imports them
