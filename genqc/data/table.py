"""The image table: one Parquet file per split, one row per image.

Every stage reads and writes this one format so any stage's inputs can be opened
with pandas. Images are stored as lossless PNG bytes (uint8, 1 or 3 channels);
next to them sit the per-image statistics the validation needs, computed once at
ingest: a content hash over the decoded pixels (so two encoders producing
different PNG bytes still hash alike), a 64-bit perceptual hash, and intensity
statistics on the 0-255 scale.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from genqc.errors import DataError

# Column names are an interface: validation, augmentation, sampling and reports rely on them.
ID, LABEL, CLASS_NAME, IMAGE = "id", "label", "class_name", "image"
HEIGHT, WIDTH, CHANNELS = "height", "width", "channels"
ORIG_HEIGHT, ORIG_WIDTH, ORIG_MODE = "orig_height", "orig_width", "orig_mode"
SHA256, PHASH = "sha256", "phash"
MEAN, STD, MIN, MAX = "mean", "std", "min", "max"
SOURCE = "source"

TABLE_COLUMNS = (
    ID, LABEL, CLASS_NAME, IMAGE, HEIGHT, WIDTH, CHANNELS,
    ORIG_HEIGHT, ORIG_WIDTH, ORIG_MODE, SHA256, PHASH, MEAN, STD, MIN, MAX, SOURCE,
)  # fmt: skip

ALLOWED_CHANNELS = (1, 3)


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) or (H, W, C) array with C in {1, 3} as PNG bytes.

    PNG is lossless, so ``decode_png(encode_png(x))`` returns ``x`` exactly.
    Compression level 1 is used: the bytes are compressed again by Parquet, and
    level 6 costs about 3x the encode time for a few percent of size.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        mode = "L"
    elif image.ndim == 3 and image.shape[2] == 3:
        mode = "RGB"
    else:
        raise ValueError(f"encode_png needs (H, W), (H, W, 1) or (H, W, 3), got shape {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode=mode).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 (H, W, C) array; C is 1 for grayscale, 3 for RGB."""
    with Image.open(io.BytesIO(data)) as img:
        if img.mode not in ("L", "RGB"):
            raise DataError(f"image table holds mode {img.mode!r}; only L and RGB are allowed")
        array = np.asarray(img, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def content_hash(image: np.ndarray) -> str:
    """SHA-256 over shape and pixels: identical pixels give identical hashes whatever the encoder."""
    digest = hashlib.sha256()
    digest.update(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hashes (pHash) of a (N, H, W, C) uint8 batch, as int64.

    The same recipe as ``imagehash.phash`` (grayscale, 32x32, 2-D DCT, the 8x8
    low-frequency block compared with its median), but batched: one vectorised
    resize and one ``scipy.fft.dctn`` for the whole batch instead of a PIL call per
    image, which is what lets 70,000 images hash in seconds.
    """
    import torch
    from scipy.fft import dctn

    if images.ndim != 4:
        raise ValueError(f"perceptual_hashes needs (N, H, W, C), got shape {images.shape}")
    if len(images) == 0:
        return np.zeros(0, dtype=np.int64)
    gray = images.astype(np.float32).mean(axis=3)  # (N, H, W)
    tensor = torch.from_numpy(gray)[:, None]  # (N, H, W) -> (N, 1, H, W)
    small = torch.nn.functional.interpolate(tensor, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    coeffs = dctn(small[:, 0].numpy().astype(np.float64), type=2, axes=(1, 2), norm="ortho")
    low = coeffs[:, :8, :8].reshape(len(images), 64)  # (N, 8, 8) -> (N, 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    weights = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)
    packed = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return packed.view(np.int64)


def intensity_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image mean, std, min and max over all pixels and channels, on the 0-255 scale."""
    flat = images.reshape(len(images), int(np.prod(images.shape[1:]))).astype(np.float64)  # (N,H,W,C)->(N,H*W*C)
    if flat.shape[0] == 0 or flat.shape[1] == 0:
        zeros = np.zeros(len(images))
        return {MEAN: zeros, STD: zeros, MIN: zeros, MAX: zeros}
    return {MEAN: flat.mean(axis=1), STD: flat.std(axis=1), MIN: flat.min(axis=1), MAX: flat.max(axis=1)}


def images_to_table(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    ids: Sequence[str],
    *,
    class_names: Sequence[str] | None = None,
    orig_sizes: Sequence[tuple[int, int]] | None = None,
    orig_modes: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    extra: dict[str, Sequence] | None = None,
) -> pd.DataFrame:
    """Build an image table from a uint8 (N, H, W, C) batch.

    ``extra`` adds columns (augmentation ops, sample seeds, metadata attributes);
    they follow the standard columns so every stage can carry its own provenance.
    """
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    n, height, width, channels = images.shape
    if channels not in ALLOWED_CHANNELS:
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    if not (len(labels) == len(ids) == n):
        raise ValueError(f"{n} images but {len(labels)} labels and {len(ids)} ids")
    labels = np.asarray(labels, dtype=np.int64)
    stats = intensity_stats(images)
    frame = pd.DataFrame(
        {
            ID: pd.Series(list(ids), dtype="string"),
            LABEL: labels,
            CLASS_NAME: pd.Series(
                list(class_names) if class_names is not None else [str(v) for v in labels], dtype="string"
            ),
            IMAGE: [encode_png(img) for img in images],
            HEIGHT: np.full(n, height, dtype=np.int64),
            WIDTH: np.full(n, width, dtype=np.int64),
            CHANNELS: np.full(n, channels, dtype=np.int64),
            ORIG_HEIGHT: np.array([s[0] for s in orig_sizes] if orig_sizes else np.full(n, height), dtype=np.int64),
            ORIG_WIDTH: np.array([s[1] for s in orig_sizes] if orig_sizes else np.full(n, width), dtype=np.int64),
            ORIG_MODE: pd.Series(list(orig_modes) if orig_modes else ["L" if channels == 1 else "RGB"] * n,
                                 dtype="string"),
            SHA256: pd.Series([content_hash(img) for img in images], dtype="string"),
            PHASH: perceptual_hashes(images),
            MEAN: stats[MEAN],
            STD: stats[STD],
            MIN: stats[MIN],
            MAX: stats[MAX],
            SOURCE: pd.Series(list(sources) if sources else [""] * n, dtype="string"),
        }
    )
    for name, values in (extra or {}).items():
        if name in frame.columns:
            raise ValueError(f"extra column {name!r} clashes with a standard image-table column")
        frame[name] = list(values)
    return frame


def read_table(path: str) -> pd.DataFrame:
    """Read an image table, saying which stage makes it when it is missing."""
    from pathlib import Path

    if not Path(path).is_file():
        raise FileNotFoundError(f"image table {path} not found; run the stage that writes it (see dvc.yaml)")
    frame = pd.read_parquet(path)
    missing = [c for c in (ID, LABEL, IMAGE) if c not in frame.columns]
    if missing:
        raise DataError(f"{path} is not an image table: missing columns {missing}")
    return frame


def decode_images(frame: pd.DataFrame) -> np.ndarray:
    """Decode a table's PNG column to one uint8 (N, H, W, C) array.

    All rows must share one size and channel count (validation guarantees it for
    clean tables); a mixed table raises DataError naming the sizes found.
    """
    if len(frame) == 0:
        return np.zeros((0, 0, 0, 1), dtype=np.uint8)
    arrays = [decode_png(b) for b in frame[IMAGE]]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"images of different shapes in one table: {sorted(shapes)[:5]}; run genqc validate first")
    return np.stack(arrays)
