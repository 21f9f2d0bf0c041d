"""DGrad and DecayDGrad: Adam with a per-element friction factor (Nanni et al., Sensors 2021, 21, 5809, §2.3)."""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


def impulse(t: int, period: int) -> float:
    """Cyclic factor imp_t = exp(-(2 * mod(t, s) / s)^2) with s = ``period``: 1 at multiples of s, < 1 elsewhere."""
    return math.exp(-((2.0 * (t % period) / period) ** 2))


def global_decay(t: int, niter: int, c: float = 0.25) -> float:
    """Global factor d_t = exp(-2 * (t - c * niter)^2 / niter^2): peaks at 1 at t = c * niter."""
    return math.exp(-2.0 * (t - c * niter) ** 2 / niter**2)


class DGrad(Optimizer):
    r"""DGrad (Nanni et al., Sensors 2021, 21, 5809, §2.3): Adam whose step is scaled by a friction factor.

    For each parameter tensor, with t counted from 1 per parameter::

        m_t = ρ1 m_{t-1} + (1 - ρ1) g_t           m̂ = m_t / (1 - ρ1^t)
        u_t = ρ2 u_{t-1} + (1 - ρ2) g_t²          û = u_t / (1 - ρ2^t)
        Δ   = |g_t - avg_t|                        Δ̂ = Δ / max(Δ)   (Δ̂ = 0 where max(Δ) = 0)
        ξ   = sigmoid(4 Δ̂)
        θ  ← θ - lr · ξ · m̂ / (√û + eps)

    ``avg_t`` is the moving average after the update with g_t, not bias-corrected. With ``avg="sq"``
    (default) it is u_t, the moving average of the element-wise squares of the gradient, as §2.3 of the
    Sensors paper words it; with ``avg="grad"`` it is m_t, the moving average of the gradient, as the
    earlier DGrad paper (Nanni, Maguolo, Lumini, arXiv 2103.14689) is recalled to do.

    Per-parameter state: ``step`` (a Python int), ``exp_avg`` (m_t) and ``exp_avg_sq`` (u_t).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        avg: str = "sq",
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"invalid learning rate {lr!r}: must be >= 0")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid betas {betas!r}: need two values in [0, 1)")
        if not eps >= 0.0:
            raise ValueError(f"invalid eps {eps!r}: must be >= 0")
        if avg not in ("sq", "grad"):
            raise ValueError(f"invalid avg {avg!r}: must be 'sq' or 'grad'")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "avg": avg})

    def _friction(self, delta_hat: torch.Tensor, step: int, group: dict) -> torch.Tensor:
        """ξ = sigmoid(4 Δ̂); may work in place on ``delta_hat``."""
        return delta_hat.mul_(4.0).sigmoid_()

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                if grad.numel() == 0:
                    continue  # amax of an empty tensor is undefined, and there is nothing to update

                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

                exp_avg.lerp_(grad, 1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)

                delta = (grad - (exp_avg_sq if group["avg"] == "sq" else exp_avg)).abs_()
                delta_max = delta.amax()
                # torch.where rather than a Python test keeps the max(Δ) = 0 guard free of host syncs.
                delta_hat = torch.where(delta_max > 0, delta / delta_max, 0.0)
                xi = self._friction(delta_hat, t, group)

                bias_correction1 = 1.0 - beta1**t
                bias_correction2 = 1.0 - beta2**t
                denom = (exp_avg_sq / bias_correction2).sqrt_().add_(group["eps"])
                p.addcdiv_(xi.mul_(exp_avg), denom, value=-group["lr"] / bias_correction1)

        return loss


class DecayDGrad(DGrad):
    r"""DecayDGrad (Nanni et al., Sensors 2021, 21, 5809, §2.3): DGrad with a cyclic and a global schedule.

    The friction factor of :class:`DGrad` becomes::

        ξ = sigmoid(4 Δ̂) · imp_t · d_t
        imp_t = exp(-(2 · mod(t, s) / s)²)               s = ``period``          (see :func:`impulse`)
        d_t   = exp(-2 · (t - c · niter)² / niter²)      ``niter`` = total steps  (see :func:`global_decay`)

    so imp_t is 1 at multiples of s and d_t peaks at t = c · niter.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        *,
        niter: int,
        period: int = 10,
        c: float = 0.25,
        avg: str = "sq",
    ) -> None:
        if niter is None or not niter > 0:
            raise ValueError(f"invalid niter {niter!r}: DecayDGrad needs the total number of iterations (> 0)")
        if not period > 0:
            raise ValueError(f"invalid period {period!r}: must be > 0")
        super().__init__(params, lr=lr, betas=betas, eps=eps, avg=avg)
        # Param-group hyper-parameters, so that they travel with state_dict() like lr does.
        schedule = {"niter": niter, "period": period, "c": c}
        self.defaults.update(schedule)
        for group in self.param_groups:
            for key, value in schedule.items():
                group.setdefault(key, value)

    def _friction(self, delta_hat: torch.Tensor, step: int, group: dict) -> torch.Tensor:
        scale = impulse(step, group["period"]) * global_decay(step, group["niter"], group["c"])
        return super()._friction(delta_hat, step, group).mul_(scale)
