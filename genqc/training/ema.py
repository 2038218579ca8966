"""Exponential moving average of the sampling module's weights.

Built on ``torch.optim.swa_utils.AveragedModel`` (buffers such as BatchNorm
statistics are copied, not averaged, as in its default) with a fused foreach
lerp: ``ema = d * ema + (1 - d) * weights``. With ``warmup`` the decay grows with
the number of updates, ``d = min(decay, (1 + n) / (10 + n))`` (TensorFlow's
ExponentialMovingAverage with num_updates): a plain 0.999 keeps 0.999^500 = 61% of
the random initialisation after 500 steps, which on a CPU-sized run would mean
sampling from noise. The first update copies the weights either way.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


class EMA:
    """An EMA copy of ``module``; ``decay`` in (0, 1). ``module`` attribute is the averaged network."""

    def __init__(self, module: nn.Module, decay: float, *, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema_decay={decay}: EMA needs 0 < decay < 1 (0 disables EMA)")
        self.decay, self.warmup = decay, warmup
        self.updates = 0  # a Python count, so the decay needs no device sync
        self._averaged = AveragedModel(module, multi_avg_fn=self._lerp, use_buffers=False)
        self._averaged.requires_grad_(False)
        self._averaged.module.eval()

    def current_decay(self) -> float:
        """The decay the next update uses (after the first, which copies)."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def _lerp(self, ema_params: list[torch.Tensor], params: list[torch.Tensor], _n: torch.Tensor) -> None:
        torch._foreach_lerp_(ema_params, params, 1.0 - self.current_decay())

    @property
    def module(self) -> nn.Module:
        return self._averaged.module

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self._averaged.update_parameters(module)
        self.updates += 1
        self._averaged.module.eval()

    def state_dict(self) -> dict[str, Any]:
        """The averaged module's weights (keys as ``module.state_dict()``) plus the update count."""
        return {
            "module": self._averaged.module.state_dict(),
            "n_averaged": self._averaged.n_averaged.clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._averaged.module.load_state_dict(state["module"])
        self._averaged.n_averaged.copy_(state["n_averaged"])
        self.updates = int(state["updates"])
