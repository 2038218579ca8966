"""``builtin:shapes``: a procedurally drawn RGB dataset with classes, available offline at any size.

The bundled datasets are grayscale (digits, MNIST), so nothing in the default
runs exercised three channels. Each image is one coloured shape (its class) on
a tinted, noisy background, drawn at 64x64 so ingest can standardise it to 32
or 64 px. Colour, background, position, size and noise are random, so the class
is carried by the shape alone and a classifier must learn shapes, not colours;
the noise keeps every image distinct (validate's duplicate checks see no copies).

Every image comes from its own generator seeded with (seed, index): the dataset
is the same on every machine, and ``iter_shapes`` can stream any number of
images in batches (the 200k-image ingest benchmark) without holding them all.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw

SHAPE_CLASSES = ("disc", "square", "triangle", "ring", "plus", "cross", "star", "bars")
NATIVE_SIZE = 64  # pixels per side as drawn; ingest resizes to ingest.image_size
DEFAULT_COUNT = 6000  # 750 per class: the scale of the default mnist5k run
NOISE_STD = 6.0  # 0-255 scale: visible texture, far below the shape/background contrast


def draw_shape(index: int, *, seed: int = 0, size: int = NATIVE_SIZE) -> tuple[np.ndarray, int]:
    """Image ``index`` of the dataset: uint8 (size, size, 3) and its class (index mod the class count)."""
    label = index % len(SHAPE_CLASSES)
    rng = np.random.default_rng([seed, index])
    hue, bg_hue = rng.random(), rng.random()
    fg = tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.0)))
    bg = tuple(round(255 * c) for c in colorsys.hsv_to_rgb(bg_hue, rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.4)))
    radius = rng.uniform(0.22, 0.34) * size
    cx, cy = rng.uniform(radius + 2, size - radius - 2, 2)
    image = Image.new("RGB", (size, size), bg)
    _draw(ImageDraw.Draw(image), SHAPE_CLASSES[label], cx, cy, radius, fg, bg, rng.uniform(0, 2 * math.pi))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, NOISE_STD, (size, size, 3))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), label


def _polygon(cx: float, cy: float, radii: list[float], angle: float) -> list[tuple[float, float]]:
    step = 2 * math.pi / len(radii)
    return [(cx + r * math.cos(angle + i * step), cy + r * math.sin(angle + i * step)) for i, r in enumerate(radii)]


def _draw(
    draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fg: tuple, bg: tuple, spin: float
) -> None:
    """Draw one shape; squares, triangles and bars keep their orientation (a turned square is a diamond)."""
    box = (cx - r, cy - r, cx + r, cy + r)
    thick = max(2.0, r / 2.5)
    if shape == "disc":
        draw.ellipse(box, fill=fg)
    elif shape == "square":
        draw.rectangle((cx - 0.8 * r, cy - 0.8 * r, cx + 0.8 * r, cy + 0.8 * r), fill=fg)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy + 0.2 * r, [r] * 3, -math.pi / 2), fill=fg)
    elif shape == "ring":
        draw.ellipse(box, fill=fg)
        draw.ellipse((cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r), fill=bg)
    elif shape == "plus":
        draw.rectangle((cx - thick / 2, cy - r, cx + thick / 2, cy + r), fill=fg)
        draw.rectangle((cx - r, cy - thick / 2, cx + r, cy + thick / 2), fill=fg)
    elif shape == "cross":
        for sign in (1, -1):
            draw.line(
                (cx - 0.8 * r, cy - sign * 0.8 * r, cx + 0.8 * r, cy + sign * 0.8 * r), fill=fg, width=round(thick)
            )
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, [r, 0.42 * r] * 5, spin), fill=fg)
    elif shape == "bars":
        for dy in (-0.45 * r, 0.45 * r):
            draw.rectangle((cx - r, cy + dy - thick / 2, cx + r, cy + dy + thick / 2), fill=fg)
    else:  # pragma: no cover - SHAPE_CLASSES and this dispatch are written together
        raise AssertionError(f"no drawing for shape {shape!r}")


def iter_shapes(
    n: int, *, seed: int = 0, batch_size: int = 1024, size: int = NATIVE_SIZE, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (uint8 (B, size, size, 3), int64 labels (B,)) for images ``start .. start + n - 1``, batch by batch."""
    if n < 0 or batch_size < 1:
        raise ValueError(f"iter_shapes needs n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    for begin in range(start, start + n, batch_size):
        drawn = [draw_shape(i, seed=seed, size=size) for i in range(begin, min(begin + batch_size, start + n))]
        yield np.stack([image for image, _ in drawn]), np.array([label for _, label in drawn], dtype=np.int64)


def shapes_dataset(n: int = DEFAULT_COUNT, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The whole dataset in memory: images (n, 64, 64, 3) uint8, labels (n,), and the class names."""
    batches = list(iter_shapes(n, seed=seed))
    images = (
        np.concatenate([b for b, _ in batches]) if batches else np.zeros((0, NATIVE_SIZE, NATIVE_SIZE, 3), np.uint8)
    )
    labels = np.concatenate([y for _, y in batches]) if batches else np.zeros(0, np.int64)
    return images, labels, list(SHAPE_CLASSES)
