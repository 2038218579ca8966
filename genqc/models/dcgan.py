"""DCGAN (Radford et al., 2016) for (C, S, S) images, S a power of two from 8 to 256.

The generator grows a 4x4 map by transposed convolutions with (conditional)
BatchNorm; the discriminator shrinks the image by strided convolutions with
BatchNorm (the paper's recipe) or spectral normalisation (SNGAN), sees the batch's
feature spread (minibatch standard deviation, against mode collapse) and, for
class-conditional training, adds a projection term (Miyato & Koyama, 2018).
Weights start from the paper's N(0, 0.02). Losses: non-saturating or hinge, an optional R1 penalty
on real images and optional DiffAugment applied to real and fake images alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genqc.augment import diff_augment
from genqc.models.base import GenerativeModel
from genqc.models.configs import DCGANConfig, diffaugment_ops
from genqc.models.layers import (
    LEAKY_SLOPE,
    ConditionalBatchNorm2d,
    check_labels,
    check_shape_fields,
    image_levels,
    level_channels,
    maybe_spectral_norm,
    randn,
)
from genqc.models.standing_stats import standing_statistics

LOSSES = ("non_saturating", "hinge")
MODE_SEEKING_EPS = 1e-5  # MSGAN's epsilon: keeps 1 / ratio finite when two images coincide


class Generator(nn.Module):
    """z (B, latent_dim) [+ labels] -> images (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        levels = image_levels(config.image_size, "dcgan")
        self.latent_dim = config.latent_dim
        self.base = level_channels(0, levels, config.width)
        self.project = nn.Linear(config.latent_dim, self.base * 16)
        self.norm0 = ConditionalBatchNorm2d(self.base, config.num_classes)
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for level in range(1, levels):
            cin, cout = level_channels(level - 1, levels, config.width), level_channels(level, levels, config.width)
            self.ups.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(cout, config.num_classes))
        self.to_image = nn.ConvTranspose2d(level_channels(levels - 1, levels, config.width), config.channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.base, 4, 4)  # (B, base*16) -> (B, base, 4, 4)
        h = F.relu(self.norm0(h, labels))
        for up, norm in zip(self.ups, self.norms, strict=True):
            h = F.relu(norm(up(h), labels))
        return torch.tanh(self.to_image(h))


class Discriminator(nn.Module):
    """images (B, C, S, S) [+ labels] -> logits (B,); a projection term when conditional."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        levels = image_levels(config.image_size, "dcgan")
        sn = config.spectral_norm
        self.downs = nn.ModuleList()
        cin = config.channels
        self.norms = nn.ModuleList()
        for level in range(levels - 1, -1, -1):  # S -> S/2 -> ... -> 4
            cout = level_channels(level, levels, config.width)
            self.downs.append(maybe_spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1), sn))
            # without spectral norm, BatchNorm after every conv but the first: the DCGAN paper's recipe
            first = level == levels - 1
            self.norms.append(nn.Identity() if sn or first else nn.BatchNorm2d(cout))
            cin = cout
        self.features = cin * 16
        self.minibatch_std = config.minibatch_std
        self.head = maybe_spectral_norm(nn.Linear(self.features + int(self.minibatch_std), 1), sn)
        self.embed = (
            maybe_spectral_norm(nn.Embedding(config.num_classes, self.features), sn) if config.num_classes else None
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for down, norm in zip(self.downs, self.norms, strict=True):
            h = F.leaky_relu(norm(down(h)), LEAKY_SLOPE)
        h = h.flatten(1)  # (B, C', 4, 4) -> (B, C'*16)
        features = h
        if self.minibatch_std:
            spread = (
                h.float().std(dim=0, unbiased=False).mean() if h.shape[0] > 1 else h.new_zeros((), dtype=torch.float)
            )
            features = torch.cat([h, spread.to(h.dtype).expand(h.shape[0], 1)], dim=1)  # (B, D) -> (B, D+1)
        out = self.head(features).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(dim=1)  # projection discriminator
        return out.float()  # loss math in float32 even under bf16 autocast


def parse_diffaugment(policy: str) -> str:
    """Normalise the DiffAugment policy string; ValueError names the key and the allowed ops."""
    return ",".join(diffaugment_ops(policy))


INIT_STD = 0.02  # the DCGAN paper's N(0, 0.02) initialisation of every weight (BatchNorm scales around 1)


def _dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), BatchNorm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        nn.init.normal_(weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


class DCGAN(GenerativeModel):
    """The GAN family: groups ``d`` then ``g``; the generator is what EMA tracks and sampling uses."""

    family = "dcgan"

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        check_shape_fields(config.channels, config.num_classes, self.family)
        if config.loss not in LOSSES:
            raise ValueError(f"train.dcgan.loss={config.loss!r}: allowed: {', '.join(LOSSES)}")
        self.policy = parse_diffaugment(config.diffaugment)
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self.apply(_dcgan_init)

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": list(self.discriminator.parameters()), "g": list(self.generator.parameters())}

    def optimizer_settings(self) -> dict[str, dict[str, Any]]:
        """G and D share lr, betas and decay, except that ``lr_d`` (when set) is D's own learning rate."""
        settings = super().optimizer_settings()
        if self.config.lr_d is not None:
            settings["d"]["lr"] = self.config.lr_d
        return settings

    def ema_module(self) -> nn.Module:
        return self.generator

    def standing_statistics(self, module: nn.Module, *, draws: int, batch_size: int = 256) -> nn.Module:
        """The generator's BatchNorm statistics recomputed from ``draws`` of ``module`` itself (labels cycling)."""

        def forward(net: nn.Module, n: int, generator: torch.Generator) -> None:
            labels, z = self.latent_inputs(net, n, None, generator)
            net(z, labels)

        return standing_statistics(module, forward, draws=draws, batch_size=batch_size)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        return diff_augment(x, self.policy)

    def _critic(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.discriminator(self._augment(x), labels)

    def loss(self, group: str, images: torch.Tensor, labels: torch.Tensor | None, step: int) -> dict[str, torch.Tensor]:
        labels = check_labels(labels, self.config.num_classes, self.family)
        z = randn((images.shape[0], self.config.latent_dim), None, images.device)
        if group == "d":
            return self._d_loss(images, labels, z)
        if group == "g":
            return self._g_loss(labels, z)
        raise ValueError(f"dcgan has groups 'd' and 'g', got {group!r}")

    def _d_loss(self, images: torch.Tensor, labels: torch.Tensor | None, z: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.generator(z, labels)
        r1 = self.config.r1_gamma > 0
        real = images.detach().requires_grad_(r1)
        real_logits = self._critic(real, labels)
        fake_logits = self._critic(fake, labels)
        if self.config.loss == "hinge":
            adversarial = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        else:
            adversarial = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        out = {"loss": adversarial, "d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}
        if r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = grad.float().pow(2).flatten(1).sum(1).mean()  # E ||grad_x D(x)||^2 on real images
            out["r1"] = penalty.detach()
            out["loss"] = adversarial + 0.5 * self.config.r1_gamma * penalty
        out["adversarial"] = adversarial.detach()
        return out

    def _g_loss(self, labels: torch.Tensor | None, z: torch.Tensor) -> dict[str, torch.Tensor]:
        seeking = self.config.mode_seeking > 0 and z.shape[0] >= 2
        half = z.shape[0] // 2
        if seeking and labels is not None:  # pair i with i + half under one label: only z tells the two apart
            labels = torch.cat([labels[:half], labels[:half], labels[2 * half :]])
        fake = self.generator(z, labels)
        fake_logits = self._critic(fake, labels)
        loss = -fake_logits.mean() if self.config.loss == "hinge" else F.softplus(-fake_logits).mean()
        out = {"d_fake": fake_logits.detach().mean(), "adversarial": loss.detach()}  # loss minus any MSGAN term
        if seeking:
            image_gap = (fake[:half] - fake[half : 2 * half]).float().abs().flatten(1).mean(1)
            code_gap = (z[:half] - z[half : 2 * half]).abs().mean(1)
            ratio = (image_gap / code_gap).mean()
            out["mode_seeking"] = ratio.detach()
            loss = loss + self.config.mode_seeking / (ratio + MODE_SEEKING_EPS)
        out["loss"] = loss
        return out

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
        net = module if module is not None else self.generator
        labels, z = self.latent_inputs(net, n, labels, generator, latent_scale)
        was_training = net.training
        net.eval()  # BatchNorm running statistics: a sample must not depend on its batch-mates
        try:
            return net(z, labels).float()
        finally:
            net.train(was_training)
