"""The contract between model families and the training loop.

The trainer (genqc/training) knows nothing of GANs, VAEs or diffusion: it asks a
model for its optimisation groups and, for each group in turn, for a loss to
minimise. A GAN answers with two groups (discriminator, then generator), a VAE
or a diffusion model with one. Sampling, EMA and checkpoints go through the same
few methods, so adding a family is one new file and one registry line.

Tensors: images are float32 (B, C, H, W) in [-1, 1]; labels are int64 (B,).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from genqc.models.layers import randn, sample_labels


def check_latent_scale(scale: float) -> None:
    """A latent temperature must be a positive finite number."""
    if not (isinstance(scale, int | float) and 0 < scale < float("inf")):
        raise ValueError(f"latent_scale must be a positive finite number, got {scale!r}")


class GenerativeModel(nn.Module, abc.ABC):
    """Base class of every generative family (dcgan, vae, ddpm)."""

    #: registry name, e.g. "dcgan"
    family: str = ""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config  # frozen dataclass; saved in checkpoints to rebuild the model

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def optimizer_settings(self) -> dict[str, dict[str, Any]]:
        """AdamW's ``lr``, ``betas`` and ``weight_decay`` for each group, from the family's own config.

        Every family declares all three (genqc/models/configs/), so a GAN's momentum
        never leaks into a likelihood model; a family with per-group needs overrides this.
        """
        optimizer = {"lr": self.config.lr, "betas": tuple(self.config.betas), "weight_decay": self.config.weight_decay}
        return {name: dict(optimizer) for name in self.groups()}

    @abc.abstractmethod
    def groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameter groups, each with its own optimiser, in the order they step."""

    @abc.abstractmethod
    def loss(self, group: str, images: torch.Tensor, labels: torch.Tensor | None, step: int) -> dict[str, torch.Tensor]:
        """Losses for one optimisation group on one batch; key ``loss`` is minimised, others are logged."""

    @abc.abstractmethod
    def ema_module(self) -> nn.Module:
        """The sub-module an EMA copy tracks and sampling uses (the generator of a GAN)."""

    def latent_inputs(
        self,
        net: nn.Module,
        n: int,
        labels: torch.Tensor | None,
        generator: torch.Generator | Sequence[torch.Generator] | None,
        scale: float = 1.0,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(labels, z ~ N(0, scale^2 I) of shape (n, latent_dim)) on ``net``'s device, for the latent families.

        ``scale`` is the latent temperature: the same standard-normal draw times
        ``scale``, so one seed gives the same image direction at every temperature.
        """
        check_latent_scale(scale)
        device = next(net.parameters()).device
        labels = sample_labels(labels, n, self.config.num_classes, device, self.family)
        return labels, randn((n, self.config.latent_dim), generator, device) * scale  # x 1.0 is exact

    def standing_statistics(self, module: nn.Module, *, draws: int, batch_size: int = 256) -> nn.Module:
        """``module`` (an EMA copy) with normalisation statistics measured under its own weights.

        Families whose sampling network keeps no running statistics (GroupNorm, none)
        return ``module`` as it is; the DCGAN recomputes its BatchNorm statistics.
        """
        return module

    @abc.abstractmethod
    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        module: nn.Module | None = None,
        latent_scale: float = 1.0,
    ) -> torch.Tensor:
        """Draw ``n`` images (n, C, H, W) in [-1, 1]; ``module`` replaces ema_module() (the EMA copy).

        ``generator`` may be one generator or one per image (image i then depends on
        generator i only, whatever the batch); ``labels`` (n,) ask a conditional model
        for those classes, and a conditional model given none cycles 0..K-1.
        ``latent_scale`` multiplies the latent code of a family that has one
        (a ``latent_dim`` in its config): below 1 it trades recall for precision (the truncation
        trick), above 1 precision for recall. A family without one accepts only 1.
        """
