"""A small U-Net noise predictor: eps_theta(x_t, t, label).

The network only sees a noisy image and a scalar time value (embedded
sinusoidally); it knows nothing of the noise schedule, which lives in
genqc/models/diffusion.py. Residual blocks with GroupNorm, one self-attention
block at the lowest resolution, skip connections between matching resolutions
(after Ho et al., 2020, scaled down for CPU training).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (B,) time values -> (B, dim), as in the Transformer."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B,) x (half,) -> (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 when they divide the channels, else the largest divisor below 8."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time(+label) embedding added in between."""

    def __init__(self, cin: int, cout: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the pixels of a low-resolution map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)  # (B, 3C, H, W) -> 3 x (B, C, H*W)
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.out(attended.transpose(1, 2).reshape(b, c, h, w))  # (B, H*W, C) -> (B, C, H, W)


class UNet(nn.Module):
    """eps prediction (B, C, S, S) from x_t (B, C, S, S), time values t (B,) and optional labels (B,).

    ``mults`` gives the channel multiplier of each resolution (one 2x downsample
    between consecutive ones), so ``image_size`` must be divisible by 2**(len(mults)-1).
    """

    def __init__(self, channels: int, width: int, num_classes: int = 0, mults: tuple[int, ...] = (1, 2, 2)) -> None:
        super().__init__()
        self.width = width
        emb_dim = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        widths = [width * m for m in mults]
        self.downs = nn.ModuleList()
        self.pools = nn.ModuleList()
        skips, cin = [width], width
        for i, cout in enumerate(widths):
            self.downs.append(ResBlock(cin, cout, emb_dim))
            skips.append(cout)
            cin = cout
            if i < len(widths) - 1:
                self.pools.append(nn.Conv2d(cin, cin, 3, stride=2, padding=1))
        self.mid = ResBlock(cin, cin, emb_dim)
        self.attn = Attention(cin)
        self.mid2 = ResBlock(cin, cin, emb_dim)
        self.ups = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i, cout in reversed(list(enumerate(widths))):
            self.ups.append(ResBlock(cin + skips.pop(), cout, emb_dim))
            cin = cout
            if i > 0:
                self.upsamples.append(nn.Conv2d(cin, cin, 3, padding=1))
        self.final = ResBlock(cin + skips.pop(), width, emb_dim)
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(width), width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)  # predict zero noise at start: a well-scaled first loss
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.width))
        if self.label_emb is not None:
            emb = emb + self.label_emb(labels)
        h = self.stem(x)
        skips = [h]
        for i, block in enumerate(self.downs):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.pools):
                h = self.pools[i](h)
        h = self.mid2(self.attn(self.mid(h, emb)), emb)
        for i, block in enumerate(self.ups):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsamples):
                h = self.upsamples[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.final(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
