"""Batched augmentation of uint8 image batches with torch tensor ops.

One call augments a whole (N, H, W, C) batch: flips are ``torch.flip`` under a
mask, crop/rotate/translate are composed into one sampling grid per image and
resampled by a single ``grid_sample`` (one interpolation, not three), and the
photometric ops, noise and cutout are broadcast arithmetic. Every per-image
quantity is computed elementwise from that image's own draws (genqc.augment.draws),
so the output for an image is bit-identical whatever batch it is processed in.

Pixels are float32 on the 0-255 scale throughout and clamped to 0..255 after
each photometric op (as a uint8 image would be); the result is rounded (never
truncated) back to uint8. An op with p=0, or an op that did not fire, leaves
pixels exactly unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genqc.augment.draws import Draws, draw_ops, image_keys, normals
from genqc.augment.ops import OpConfig

if TYPE_CHECKING:
    import torch

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's "L" conversion and ImageEnhance.Contrast use


@dataclass
class AugmentResult:
    images: np.ndarray  # (N, H, W, C) uint8
    draws: Draws

    def records(self) -> list[str]:
        return self.draws.records()


def augment_images(
    images: np.ndarray, ids: Sequence[str], *, seed: int, copy: int, ops: Mapping[str, OpConfig]
) -> AugmentResult:
    """Augment a uint8 (N, H, W, C) batch; image ``i``'s draws come from (seed, ids[i], copy) only.

    ``ops`` is the output of ``validate_ops`` (or any mapping of op name to OpConfig).
    Returns the augmented uint8 batch (same shape and dtype) and the draws, whose
    ``records()`` say per image which ops fired and how strongly.
    """
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"augment_images needs uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    if len(ids) != len(images):
        raise ValueError(f"{len(images)} images but {len(ids)} ids")
    draws = draw_ops(image_keys(seed, ids, copy), ops)
    return AugmentResult(apply_draws(images, draws), draws)


def _mask(draws: Draws, name: str) -> np.ndarray:
    return draws.applied.get(name, np.zeros(len(draws), dtype=bool))


def _column(values: np.ndarray) -> torch.Tensor:
    """(N,) float64 draws -> (N, 1, 1) float32 for broadcasting over (N, H, W)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).view(-1, 1, 1)


def apply_draws(images: np.ndarray, draws: Draws) -> np.ndarray:
    """Apply given draws to a uint8 (N, H, W, C) batch (replay a recorded augmentation, or set strengths exactly)."""
    import torch

    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(draws):
        raise ValueError(f"apply_draws needs uint8 (N, H, W, C) with N={len(draws)}, got {images.dtype} {images.shape}")
    if len(images) == 0:
        return images.copy()

    # A fresh float32 copy that the steps below own and modify in place.
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()  # (N,H,W,C) -> (N,C,H,W)
    x = _flips(x, draws)
    x = _geometric(x, draws)
    x = _photometric(x, draws)
    x = _noise(x, draws)
    x = _cutout(x, draws)
    out = x.clamp_(0, 255).round_().to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous().numpy()  # (N,C,H,W) -> (N,H,W,C)


def _flips(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    import torch

    for name, dim in (("hflip", 3), ("vflip", 2)):
        mask = _mask(draws, name)
        if mask.any():
            x = torch.where(torch.from_numpy(mask).view(-1, 1, 1, 1), x.flip(dim), x)
    return x


def _geometric(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    """Crop-resize, rotate and translate the images that drew any of them, with one grid_sample.

    The grid maps each output pixel back to its source position, in pixel units
    about the image centre (so rotation stays a rotation on non-square images):
    undo the translation (t), undo the counter-clockwise rotation (R), then zoom
    into the crop window (scale s, centre c): ``src = s * R^-1 (dst - t) + c``.
    Being affine, that is ``src_x = a*X + b*Y + e`` per image; the coefficients
    are computed per image in float64, so each grid element costs two float32
    ops whose result cannot depend on the batch.
    """
    import torch
    import torch.nn.functional as F

    fired = _mask(draws, "crop") | _mask(draws, "rotate") | _mask(draws, "translate")
    if not fired.any():
        return x
    idx = np.flatnonzero(fired)
    _, _, height, width = x.shape

    def field(op: str, name: str, default: float) -> np.ndarray:
        if op not in draws.applied:
            return np.full(len(idx), default)
        return np.where(draws.applied[op][idx], draws.values[op][name][idx], default)

    radians = np.deg2rad(field("rotate", "degrees", 0.0))
    cos = np.array([math.cos(a) for a in radians])  # libm per image: the same bits on every machine
    sin = np.array([math.sin(a) for a in radians])
    tx, ty = field("translate", "dx", 0.0) * width, field("translate", "dy", 0.0) * height
    s = field("crop", "scale", 1.0)
    cx, cy = field("crop", "x", 0.0) * width, field("crop", "y", 0.0) * height
    half_w, half_h = width / 2.0, height / 2.0
    # src = s * [[cos, -sin], [sin, cos]] @ (dst - t) + c, then divided by the half side (grid units).
    coef_x = (s * cos / half_w, -s * sin / half_w, (s * (-cos * tx + sin * ty) + cx) / half_w)
    coef_y = (s * sin / half_h, s * cos / half_h, (s * (-sin * tx - cos * ty) + cy) / half_h)

    px = (torch.arange(width, dtype=torch.float64) + 0.5 - half_w).float().view(1, 1, width)  # pixel centres
    py = (torch.arange(height, dtype=torch.float64) + 0.5 - half_h).float().view(1, height, 1)
    grid = torch.empty(len(idx), height, width, 2)  # (M, H, W, 2): x then y, align_corners=False units
    for axis, (a, b, e) in enumerate((coef_x, coef_y)):
        torch.add(_column(a) * px + _column(e), _column(b) * py, out=grid[..., axis])  # (M,1,W) + (M,H,1)
    chosen = torch.from_numpy(idx)
    x[chosen] = F.grid_sample(x[chosen], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x


def _photometric(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    """Brightness, then contrast as ``x*f + c*(1-f)``; images the op did not fire on get ``x*1 + 0``, exact no-ops.

    Separate multiply and add (never a fused multiply-add, whose rounding can
    depend on where an element falls in a vector) keep results batch-independent.
    """
    import torch

    if _mask(draws, "brightness").any():
        factor = np.where(draws.applied["brightness"], draws.values["brightness"]["factor"], 1.0)
        x.mul_(_column(factor).unsqueeze(1)).clamp_(0, 255)  # (N, 1, 1) -> (N, 1, 1, 1)
    mask = _mask(draws, "contrast")
    if mask.any():
        # Mean grey per image: the channel means in float64 (no batch-size-dependent rounding), luma-weighted.
        means = x.mean(dim=(2, 3), dtype=torch.float64).numpy()  # (N, C)
        grey = sum(w * means[:, c] for c, w in enumerate(_LUMA)) if x.shape[1] == 3 else means[:, 0]
        factor = np.where(mask, draws.values["contrast"]["factor"], 1.0)
        offset = np.where(mask, grey * (1.0 - factor), 0.0)
        x.mul_(_column(factor).unsqueeze(1)).add_(_column(offset).unsqueeze(1)).clamp_(0, 255)
    return x


def _noise(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    import torch

    mask = _mask(draws, "noise")
    if not mask.any():
        return x
    idx = np.flatnonzero(mask)
    _, channels, height, width = x.shape
    z = normals(draws.keys[idx], channels * height * width)  # (M, C*H*W): pixel order is (c, h, w)
    std = draws.values["noise"]["std"][idx, None] * 255.0
    noise = torch.from_numpy((z * std).astype(np.float32)).view(len(idx), channels, height, width)
    chosen = torch.from_numpy(idx)
    x[chosen] = noise.add_(x[chosen]).clamp_(0, 255)
    return x


def _cutout(x: torch.Tensor, draws: Draws) -> torch.Tensor:
    import torch

    mask = _mask(draws, "cutout")
    if not mask.any():
        return x
    idx = np.flatnonzero(mask)
    _, _, height, width = x.shape
    values = {k: v[idx] for k, v in draws.values["cutout"].items()}
    side = np.rint(values["size"] * min(height, width)).astype(np.int64)
    left = np.floor(values["x"] * width).astype(np.int64) - side // 2
    top = np.floor(values["y"] * height).astype(np.int64) - side // 2
    cols = torch.arange(width).view(1, 1, width)
    rows = torch.arange(height).view(1, height, 1)

    def col(v: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(v).view(-1, 1, 1)

    inside = (cols >= col(left)) & (cols < col(left + side)) & (rows >= col(top)) & (rows < col(top + side))
    chosen = torch.from_numpy(idx)
    x[chosen] = x[chosen].masked_fill_(inside.unsqueeze(1), 0.0)  # (M, H, W) -> (M, 1, H, W) over channels
    return x
