"""Pieces every model family shares: size checks, seeded noise, label handling, conditional BN.

Kept in one place so the three families reject the same bad inputs with the same
words, and draw noise the same way (a CPU generator gives the same samples on
CPU and CUDA).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from genqc.errors import ConfigError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 256
#: the conv families double the channels per halving of the resolution up to this multiple of ``width``:
#: 8x keeps a 256 px model's 4x4 layers at 8 * width channels instead of 64 * width
MAX_WIDTH_MULTIPLIER = 8
LEAKY_SLOPE = 0.2  # LeakyReLU slope of the DCGAN paper's discriminator, reused by the VAE encoder


def level_channels(level: int, levels: int, width: int) -> int:
    """Channels at ``level`` (0 = 4x4) of a net with ``levels`` resolutions: doubling towards 4x4, capped."""
    return width * min(2 ** (levels - 1 - level), MAX_WIDTH_MULTIPLIER)


def image_levels(image_size: int, family: str, *, min_size: int = MIN_IMAGE_SIZE) -> int:
    """Number of 2x resolution steps between a 4x4 base and ``image_size``; ConfigError if unsupported.

    The conv families grow or shrink the image by powers of two, so a size that is
    not a power of two cannot be produced exactly; failing here names the key to change
    instead of failing later with a shape mismatch deep inside a convolution.
    """
    ok = isinstance(image_size, int) and min_size <= image_size <= MAX_IMAGE_SIZE and image_size & (image_size - 1) == 0
    if not ok:
        raise ConfigError(
            f"ingest.image_size={image_size!r} is not supported by the {family} model: it needs a power of two "
            f"from {min_size} to {MAX_IMAGE_SIZE} (e.g. 16, 32, 64); change ingest.image_size in params.yaml"
        )
    return int(math.log2(image_size)) - 2


def check_shape_fields(channels: int, num_classes: int, family: str) -> None:
    """Reject impossible shape fields with the params key a user would change."""
    if channels not in (1, 3):
        raise ConfigError(f"ingest.channels={channels!r} is not supported by the {family} model: use 1 or 3")
    if not isinstance(num_classes, int) or num_classes < 0:
        raise ConfigError(
            f"num_classes={num_classes!r} for the {family} model: use 0 (unconditional) or the class count"
        )


def randn(
    shape: tuple[int, ...], generator: torch.Generator | Sequence[torch.Generator] | None, device: torch.device
) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved to ``device``.

    Drawing on the generator's own device means a seeded CPU generator gives the same
    samples whether the model runs on CPU or CUDA. A sequence of generators (one per
    row of ``shape``) draws row i from generator i, so an image depends on its own
    seed only, never on the batch it was drawn in.
    """
    if generator is None:
        return torch.randn(shape, device=device)
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=generator.device).to(device)
    generators = list(generator)
    if len(generators) != shape[0]:
        raise ValueError(f"got {len(generators)} generators for a batch of {shape[0]}; pass one per image")
    rows = [torch.randn(shape[1:], generator=g, device=g.device).to(device) for g in generators]
    return torch.stack(rows) if rows else torch.empty(shape, device=device)


def sample_labels(
    labels: torch.Tensor | None, n: int, num_classes: int, device: torch.device, family: str
) -> torch.Tensor | None:
    """Validate the labels a caller asks samples for; a conditional model without labels cycles 0..K-1.

    Cycling (rather than drawing) gives a balanced, reproducible class mix when the
    caller does not care which classes it gets. An unconditional model refuses labels
    instead of silently ignoring them, because the caller expects images of those classes.
    """
    if num_classes == 0:
        if labels is not None:
            raise ValueError(
                f"this {family} model is unconditional (num_classes=0) and cannot honour labels=; "
                "train it with train.conditional: true to sample given classes"
            )
        return None
    if labels is None:
        return torch.arange(n, device=device) % num_classes
    labels = torch.as_tensor(labels, device=device).long()
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    check_labels(labels, num_classes, family)
    return labels


def check_labels(labels: torch.Tensor | None, num_classes: int, family: str) -> torch.Tensor | None:
    """Labels for a training batch: required and in range when conditional, ignored otherwise."""
    if num_classes == 0:
        return None
    if labels is None:
        raise ValueError(f"the {family} model is conditional (num_classes={num_classes}) and needs labels")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for this {family} model, "
            f"got min {int(labels.min())} and max {int(labels.max())}"
        )
    return labels.long()


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift come from the class label (de Vries et al., 2017).

    With ``num_classes == 0`` it is a plain affine BatchNorm, so a family writes one
    code path for the conditional and unconditional cases.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gamma = nn.Embedding(num_classes, channels)
            self.beta = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gamma.weight)  # start as the identity transform, like affine BN
            nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        out = self.norm(x)
        if self.num_classes:
            gamma = self.gamma(labels)[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
            beta = self.beta(labels)[:, :, None, None]
            out = out * gamma + beta
        return out


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` in spectral normalisation when ``enabled`` (Miyato et al., 2018)."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module
