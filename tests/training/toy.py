"""A tiny GenerativeModel for trainer tests: two optimisation groups, global-RNG noise, an optional NaN.

It is a linear autoencoder with noisy codes (so the loss uses torch's global RNG,
as the real families do) whose decoder is the sampling module. ``nan_at`` makes
the loss NaN from that 0-based step on, for the NaN-guard test. Registered as
family ``toy`` so load_checkpoint can rebuild it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genqc.models.base import GenerativeModel
from genqc.models.registry import MODEL_REGISTRY, register


@dataclass(frozen=True)
class ToyConfig:
    image_size: int = 8
    channels: int = 1
    num_classes: int = 0
    latent_dim: int = 4
    nan_at: int = -1  # -1: never
    noise: float = 0.05  # std of the code noise; 0 makes the loss deterministic given the batch
    lr: float = 0.01  # the optimiser settings every family declares (genqc.models.configs.OPTIMIZER_FIELDS)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


class ToyModel(GenerativeModel):
    family = "toy"

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        dim = config.channels * config.image_size**2
        self.encoder = nn.Linear(dim, config.latent_dim)
        self.decoder = nn.Linear(config.latent_dim, dim)

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"enc": list(self.encoder.parameters()), "dec": list(self.decoder.parameters())}

    def loss(self, group, images, labels, step):
        flat = images.flatten(1)  # (B, C, H, W) -> (B, C*H*W)
        code = self.encoder(flat) + self.config.noise * torch.randn(
            len(flat), self.config.latent_dim, device=flat.device
        )
        loss = F.mse_loss(self.decoder(code), flat)
        if 0 <= self.config.nan_at <= step:
            loss = loss * float("nan")
        return {"loss": loss, "code_norm": code.detach().norm(dim=1).mean()}

    def ema_module(self) -> nn.Module:
        return self.decoder

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, module=None, latent_scale=1.0):
        net = module if module is not None else self.decoder
        device = next(net.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device) * latent_scale
        size, channels = self.config.image_size, self.config.channels
        return torch.tanh(net(z)).view(n, channels, size, size)  # (n, C*H*W) -> (n, C, H, W)


def register_toy() -> None:
    if "toy" not in MODEL_REGISTRY:
        register("toy", ToyModel, ToyConfig)


def toy_images(n: int = 64, size: int = 8, seed: int = 0) -> torch.Tensor:
    """uint8 (n, size, size, 1): blurry blobs, easy to reconstruct but not constant."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, size // 2, size // 2, generator=generator)
    up = F.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (up * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # (n,1,H,W) -> (n,H,W,1)
