"""Tile a batch of images into one picture (the sample grids logged during training)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from genqc.io import atomic_path


def image_grid(images: np.ndarray, *, nrow: int | None = None, pad: int = 2, fill: int = 0) -> np.ndarray:
    """uint8 (N, H, W, C) -> uint8 (rows*(H+pad)+pad, nrow*(W+pad)+pad, C), row-major, ``fill`` between tiles."""
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(f"image_grid needs a non-empty uint8 (N, H, W, C) batch, got {images.dtype} {images.shape}")
    n, height, width, channels = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (height + pad) + pad, nrow * (width + pad) + pad, channels), fill, dtype=np.uint8)
    for i, image in enumerate(images):
        top, left = pad + (i // nrow) * (height + pad), pad + (i % nrow) * (width + pad)
        grid[top : top + height, left : left + width] = image
    return grid


def save_png(image: np.ndarray, path) -> None:
    """Write a uint8 (H, W, C) array as PNG, atomically."""
    picture = Image.fromarray(
        image[:, :, 0] if image.shape[2] == 1 else image, mode="L" if image.shape[2] == 1 else "RGB"
    )
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
