"""Optimizers: DGrad and DecayDGrad (Nanni et al., Sensors 2021, §2.3) and the optimizer registry."""

from .dgrad import DecayDGrad, DGrad
from .registry import (
           OPTIMIZERS,
           create_optimizer,
           list_optimizers,
           register_optimizer,
           resolve_optimizer,
)

__all__ = ["DGrad", "DecayDGrad", "OPTIMIZERS", "create_optimizer", "list_optimizers", "register_optimizer",
           "resolve_optimizer"]
