"""DDPM: a small U-Net noise predictor trained and sampled by a separate GaussianDiffusion.

The network (genqc/models/unet.py) sees only noisy images and time values; the
schedule, loss and samplers (genqc/models/diffusion.py) wrap it. Sampling uses
DDIM (fast; stochastic with eta=1 by default, deterministic with eta=0) or the full
ancestral chain, per config.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genqc.models.base import GenerativeModel
from genqc.models.configs import DDPMConfig
from genqc.models.diffusion import SCHEDULES, GaussianDiffusion
from genqc.models.layers import check_labels, check_shape_fields, image_levels, sample_labels
from genqc.models.unet import UNet

SAMPLERS = ("ddim", "ancestral")


class DDPM(GenerativeModel):
    """The diffusion family: one group ``unet``; EMA tracks the U-Net, which sampling then uses."""

    family = "ddpm"

    def __init__(self, config: DDPMConfig) -> None:
        super().__init__(config)
        check_shape_fields(config.channels, config.num_classes, self.family)
        image_levels(config.image_size, self.family)
        if config.schedule not in SCHEDULES:
            raise ValueError(f"train.ddpm.schedule={config.schedule!r}: allowed: {', '.join(SCHEDULES)}")
        if config.sampler not in SAMPLERS:
            raise ValueError(f"train.ddpm.sampler={config.sampler!r}: allowed: {', '.join(SAMPLERS)}")
        if not 0 <= config.eta <= 1:
            raise ValueError(f"train.ddpm.eta={config.eta!r}: must lie in [0, 1]")
        if config.min_snr_gamma < 0:
            raise ValueError(f"train.ddpm.min_snr_gamma={config.min_snr_gamma!r}: must be >= 0 (0 disables it)")
        if config.sample_steps < 1:
            raise ValueError(f"train.ddpm.sample_steps={config.sample_steps!r}: must be >= 1")
        self.unet = UNet(config.channels, config.width, config.num_classes)
        self.diffusion = GaussianDiffusion(config.timesteps, config.schedule)

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"unet": list(self.unet.parameters())}

    def ema_module(self) -> nn.Module:
        return self.unet

    def loss(self, group: str, images: torch.Tensor, labels: torch.Tensor | None, step: int) -> dict[str, torch.Tensor]:
        if group != "unet":
            raise ValueError(f"ddpm has one group 'unet', got {group!r}")
        labels = check_labels(labels, self.config.num_classes, self.family)
        return {"loss": self.diffusion.loss(self.unet, images, labels, min_snr_gamma=self.config.min_snr_gamma)}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        module: nn.Module | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        latent_scale: float = 1.0,
    ) -> torch.Tensor:
        """Draw ``n`` images; ``sampler``, ``steps`` and ``eta`` override the config for this call.

        A diffusion model has no latent code to scale, so ``latent_scale`` must be 1.
        """
        if latent_scale != 1.0:
            raise ValueError(f"ddpm has no latent code: latent_scale must be 1, got {latent_scale!r}")
        net = module if module is not None else self.unet
        device = next(net.parameters()).device
        labels = sample_labels(labels, n, self.config.num_classes, device, self.family)
        sampler = sampler or self.config.sampler
        shape = (n, self.config.channels, self.config.image_size, self.config.image_size)
        was_training = net.training
        net.eval()
        try:
            if sampler == "ancestral":
                return self.diffusion.ancestral_sample(net, shape, labels=labels, generator=generator, device=device)
            if sampler == "ddim":
                return self.diffusion.ddim_sample(
                    net,
                    shape,
                    labels=labels,
                    generator=generator,
                    device=device,
                    steps=steps or self.config.sample_steps,
                    eta=self.config.eta if eta is None else eta,
                )
            raise ValueError(f"sampler={sampler!r}: allowed: {', '.join(SAMPLERS)}")
        finally:
            net.train(was_training)
