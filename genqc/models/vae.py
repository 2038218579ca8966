"""Convolutional VAE (Kingma & Welling, 2014) with a Bernoulli or Gaussian likelihood and a beta-weighted KL.

The encoder halves the image down to 4x4 and predicts a diagonal Gaussian
posterior; the decoder mirrors it. Class-conditional models concatenate a label
embedding to the encoder features and to the latent code. The Gaussian
likelihood learns one log-scale per channel (a calibrated decoder, Rybkin et al.,
2021), so no hand-tuned reconstruction weight is needed. Losses are per image
dimension (nats/dim), so their scale does not change with the image size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genqc.models.base import GenerativeModel
from genqc.models.configs import VAEConfig
from genqc.models.layers import LEAKY_SLOPE, check_labels, check_shape_fields, image_levels, level_channels

LIKELIHOODS = ("gaussian", "bernoulli")
LABEL_DIM = 16  # width of the label embedding; plenty for tens of classes
LOGVAR_RANGE = (-30.0, 20.0)  # the posterior's log-variance clamp: keeps exp() finite early in training
MIN_LOG_SCALE = -4.0  # Gaussian decoder's smallest log std (std ~0.018 on a [-1, 1] scale) keeps the NLL finite


class VAENet(nn.Module):
    """Encoder and decoder; the module an EMA copy tracks (sampling and reconstruction use it)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        levels = image_levels(config.image_size, "vae")
        self.config = config
        self.label_dim = LABEL_DIM if config.num_classes else 0
        self.embed = nn.Embedding(config.num_classes, LABEL_DIM) if config.num_classes else None
        downs, cin = [], config.channels
        for level in range(levels - 1, -1, -1):  # S -> S/2 -> ... -> 4
            cout = level_channels(level, levels, config.width)
            downs += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE)]
            cin = cout
        self.encoder = nn.Sequential(*downs)
        self.base = cin
        self.to_posterior = nn.Linear(self.base * 16 + self.label_dim, 2 * config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim + self.label_dim, self.base * 16)
        ups = []
        for level in range(1, levels + 1):  # 4 -> 8 -> ... -> S
            cin, cout = level_channels(level - 1, levels, config.width), level_channels(level, levels, config.width)
            last = level == levels
            ups.append(nn.ConvTranspose2d(cin, config.channels if last else cout, 4, stride=2, padding=1))
            if not last:
                ups.append(nn.LeakyReLU(LEAKY_SLOPE))
        self.decoder = nn.Sequential(*ups)
        # Gaussian decoder: one learned log std per channel (unused for Bernoulli)
        self.log_scale = nn.Parameter(torch.zeros(config.channels))

    def _label(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return h if self.embed is None else torch.cat([h, self.embed(labels)], dim=1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, latent_dim)."""
        h = self.encoder(x).flatten(1)  # (B, C', 4, 4) -> (B, C'*16)
        mu, logvar = self.to_posterior(self._label(h, labels)).float().chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Decoder output (B, C, S, S): Bernoulli logits or Gaussian means, in [0, 1]-logit / [-1, 1] units."""
        h = self.from_latent(self._label(z, labels))
        h = F.leaky_relu(h, 0.2).view(z.shape[0], self.base, 4, 4)  # (B, C'*16) -> (B, C', 4, 4)
        return self.decoder(h).float()

    def mean_image(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's expected image in [-1, 1] (what sampling and reconstruction return)."""
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        return out.clamp(-1, 1)


class VAE(GenerativeModel):
    """The VAE family: one group ``vae``; loss = (NLL + beta * KL) per image dimension."""

    family = "vae"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        check_shape_fields(config.channels, config.num_classes, self.family)
        if config.likelihood not in LIKELIHOODS:
            raise ValueError(f"train.vae.likelihood={config.likelihood!r}: allowed: {', '.join(LIKELIHOODS)}")
        if config.beta < 0:
            raise ValueError(f"train.vae.beta={config.beta!r}: must be >= 0")
        self.net = VAENet(config)

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"vae": list(self.net.parameters())}

    def ema_module(self) -> nn.Module:
        return self.net

    def _nll(self, out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per image (B,), summed over pixels, in nats."""
        images = images.float()
        if self.config.likelihood == "bernoulli":
            target = (images + 1) / 2  # [-1, 1] -> [0, 1]: grey levels act as soft Bernoulli targets
            return F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1)
        log_scale = self.net.log_scale.float().clamp(min=MIN_LOG_SCALE)[None, :, None, None]
        z = (images - out) * torch.exp(-log_scale)
        nll = 0.5 * z.pow(2) + log_scale + 0.5 * math.log(2 * math.pi)
        return nll.flatten(1).sum(1)

    def loss(self, group: str, images: torch.Tensor, labels: torch.Tensor | None, step: int) -> dict[str, torch.Tensor]:
        if group != "vae":
            raise ValueError(f"vae has one group 'vae', got {group!r}")
        labels = check_labels(labels, self.config.num_classes, self.family)
        mu, logvar = self.net.encode(images, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
        out = self.net.decode(z, labels)
        dims = images[0].numel()
        nll = self._nll(out, images).mean() / dims
        kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).sum(1).mean() / dims  # KL(q(z|x) || N(0, I))
        return {"loss": nll + self.config.beta * kl, "nll": nll.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def reconstruct(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, *, module: nn.Module | None = None
    ) -> torch.Tensor:
        """Deterministic reconstruction (posterior mean through the decoder), (B, C, S, S) in [-1, 1]."""
        net = module if module is not None else self.net
        labels = check_labels(labels, self.config.num_classes, self.family)
        mu, _ = net.encode(images, labels)
        return net.mean_image(net.decode(mu, labels))

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
        net = module if module is not None else self.net
        labels, z = self.latent_inputs(net, n, labels, generator, latent_scale)
        return net.mean_image(net.decode(z, labels))
