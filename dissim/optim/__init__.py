"""Optimizers: DGrad and DecayDGrad (Nanni et al., Sensors 2021, §2.3) and the optimizer registry."""

from dissim.optim.dgrad import DecayDGrad, DGrad
from dissim.optim.registry import (
    create_optimizer,
    list_optimizers,
    register_optimizer,
    resolve_optimizer,
)

__all__ = [
    "DGrad",
    "DecayDGrad",
    "register_optimizer",
    "list_optimizers",
    "create_optimizer",
    "resolve_optimizer",
]
