"""Differentiable augmentation for GAN training (DiffAugment, Zhao et al. 2020).

A discriminator trained on few images memorises them; DiffAugment applies the
same kind of random transform to real and to generated batches, every step,
with ops that are differentiable in the pixels, so the generator's gradient
flows back through the augmentation. The ops and their strengths follow the
paper's reference implementation (mit-han-lab/data-efficient-gans, BSD-2):

- ``color``: brightness += U(-0.5, 0.5); saturation: (x - channel mean) * U(0, 2);
  contrast: (x - image mean) * U(0.5, 1.5). Inputs are models' [-1, 1] tensors.
- ``translation``: integer shift by up to 1/8 of each side, zero fill.
- ``cutout``: zero a square of half the side at a uniform position.

Zero is the fill value of the reference, i.e. mid-grey in [-1, 1]. Random draws
are per sample and independent between calls (real and fake get different
draws of the same transforms, as in the paper); pass a seeded ``generator`` on
``x``'s device for reproducible training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genqc.errors import ConfigError

if TYPE_CHECKING:
    import torch

DIFF_POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # the paper's default shift: 1/8 of the side
CUTOUT_RATIO = 0.5  # the paper's default square: half the side


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); "" -> (); unknown names are a ConfigError."""
    names = tuple(part.strip() for part in policy.split(",") if part.strip())
    unknown = [n for n in names if n not in DIFF_POLICIES]
    if unknown:
        raise ConfigError(
            f"DiffAugment policy {policy!r}: unknown op(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(DIFF_POLICIES)} (comma-separated; '' disables DiffAugment)"
        )
    return names


def diff_augment(
    x: torch.Tensor, policy: str = "color,translation,cutout", *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the policy's ops, in the order given, to a float (B, C, H, W) batch; gradients flow to ``x``.

    Call it on the real batch and on the generated batch alike before the
    discriminator (both in D's step and in G's step). An empty policy returns ``x``.
    """
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"diff_augment needs a float (B, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
    for name in parse_policy(policy):
        x = _OPS[name](x, generator)
    return x


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One U(0, 1) per sample, shaped (B, 1, 1, 1) for broadcasting."""
    import torch

    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)


def _color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    x = x + (_rand(x, generator) - 0.5)
    channel_mean = x.mean(dim=1, keepdim=True)
    x = (x - channel_mean) * (_rand(x, generator) * 2) + channel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (_rand(x, generator) + 0.5) + image_mean


def _translation(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """out[b, :, i, j] = x[b, :, i + ty, j + tx], zero where that falls outside the image."""
    import torch

    batch, channels, height, width = x.shape
    max_y, max_x = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
    ty = torch.randint(-max_y, max_y + 1, (batch, 1, 1), generator=generator, device=x.device)
    tx = torch.randint(-max_x, max_x + 1, (batch, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(height, device=x.device).view(1, height, 1) + ty  # (B, H, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width) + tx  # (B, 1, W)
    valid = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # (B, H, W)
    index = rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)  # (B, H, W) flat source pixel
    index = index.view(batch, 1, height * width).expand(batch, channels, height * width)
    shifted = x.reshape(batch, channels, height * width).gather(2, index)  # (B, C, H*W)
    return shifted.view(batch, channels, height, width) * valid.unsqueeze(1).to(x.dtype)


def _cutout(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Zero a (H/2, W/2) square whose centre is uniform over the image (clipped at the edges)."""
    import torch

    batch, _, height, width = x.shape
    size_y, size_x = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    # As the reference: the centre ranges over the image (one extra position for even sizes).
    cy = torch.randint(0, height + (1 - size_y % 2), (batch, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, width + (1 - size_x % 2), (batch, 1, 1), generator=generator, device=x.device)
    top, left = cy - size_y // 2, cx - size_x // 2
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
