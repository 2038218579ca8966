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
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from genqc.data.batch import ImageBatch
from genqc.errors import DataError
from genqc.progress import Progress

# Column names are an interface: validation, augmentation, sampling and reports rely on them.
ID, LABEL, CLASS_NAME, IMAGE = "id", "label", "class_name", "image"
HEIGHT, WIDTH, CHANNELS = "height", "width", "channels"
ORIG_HEIGHT, ORIG_WIDTH, ORIG_MODE = "orig_height", "orig_width", "orig_mode"
SHA256, PHASH = "sha256", "phash"
MEAN, STD, MIN, MAX = "mean", "std", "min", "max"
SOURCE = "source"

TABLE_COLUMNS = (
    ID,
    LABEL,
    CLASS_NAME,
    IMAGE,
    HEIGHT,
    WIDTH,
    CHANNELS,
    ORIG_HEIGHT,
    ORIG_WIDTH,
    ORIG_MODE,
    SHA256,
    PHASH,
    MEAN,
    STD,
    MIN,
    MAX,
    SOURCE,
)

ALLOWED_CHANNELS = (1, 3)
_STRING_COLUMNS = (ID, CLASS_NAME, ORIG_MODE, SHA256, SOURCE)

# Pixel values per block of per-image statistics (float64 temporaries of ~32 MB each): large enough to
# vectorise, small enough that ingest's memory is the table plus a constant at any dataset size.
BLOCK_VALUES = 4_000_000


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


def stats_block(image_shape: tuple[int, ...]) -> int:
    """Images per block of per-image statistics: about BLOCK_VALUES pixel values, at least one image."""
    return max(1, BLOCK_VALUES // max(1, int(np.prod(image_shape))))


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
    progress: bool = True,
) -> pd.DataFrame:
    """Build an image table from a uint8 (N, H, W, C) batch.

    ``extra`` adds columns (augmentation ops, sample seeds, metadata attributes);
    they follow the standard columns so every stage can carry its own provenance.
    The per-image statistics are computed in blocks (``stats_block``), so memory is
    the pixels and the table plus a constant, whatever N; ``progress`` reports the
    encoding of large sets (genqc.progress).
    """
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    n = len(images)
    if not (len(labels) == len(ids) == n):
        raise ValueError(f"{n} images but {len(labels)} labels and {len(ids)} ids")
    batch = ImageBatch(
        images,
        labels,
        ids,
        class_names,
        orig_sizes,
        orig_modes,
        sources,
        {name: list(values) for name, values in (extra or {}).items()},
    )
    return table_from_batches([batch], total=n if progress else None)


def table_from_batches(batches: Iterable[ImageBatch], *, total: int | None = None) -> pd.DataFrame:
    """Build one image table from a stream of batches (a source that decodes a folder chunk by chunk).

    Each batch's pixels are encoded, hashed and measured as it arrives and can be
    freed straight after, so memory is the growing table plus one batch's
    temporaries: a source never has to hold the whole dataset as an array. The
    table is identical whatever the batch boundaries. Statistics are computed in
    blocks of ``stats_block`` images however large a batch is. ``total`` (the
    image count, when known) turns on progress lines.
    """
    columns: dict[str, list] = {name: [] for name in TABLE_COLUMNS}
    extras: dict[str, list] = {}
    shape: tuple[int, ...] | None = None
    rows = 0
    with Progress(total or 0, "encode images", unit="img") as bar:
        for batch in batches:
            if batch.images.dtype != np.uint8 or batch.images.ndim != 4:
                raise ValueError(f"images must be uint8 (N, H, W, C), got {batch.images.dtype} {batch.images.shape}")
            if shape is None:
                shape = batch.images.shape[1:]
                if shape[2] not in ALLOWED_CHANNELS:
                    raise ValueError(f"images must have 1 or 3 channels, got {shape[2]}")
            elif batch.images.shape[1:] != shape and len(batch.images):
                raise ValueError(f"batches of different image shapes: {shape} then {batch.images.shape[1:]}")
            if not (len(batch.labels) == len(batch.ids) == len(batch.images)):
                raise ValueError(f"{len(batch.images)} images but {len(batch.labels)} labels and {len(batch.ids)} ids")
            block = stats_block(batch.images.shape[1:])
            for begin in range(0, max(len(batch.images), 1), block):  # bounded float temporaries per block
                part = _rows(batch, slice(begin, begin + block))
                for name, values in _batch_columns(part).items():
                    columns[name].append(values)
                bar.update(len(part.images))
            names = set(batch.extra or {})
            if rows and names != set(extras):
                raise ValueError(f"extra columns differ between batches: {sorted(extras)} then {sorted(names)}")
            for name, values in (batch.extra or {}).items():
                if name in columns:
                    raise ValueError(f"extra column {name!r} clashes with a standard image-table column")
                extras.setdefault(name, []).extend(values)
            rows += len(batch.images)
    frame = pd.DataFrame({name: _join(name, parts) for name, parts in columns.items()})
    for name, values in extras.items():
        frame[name] = values
    return frame


def _rows(batch: ImageBatch, rows: slice) -> ImageBatch:
    """A slice of a batch (every per-row field cut alike); the whole batch when the slice covers it."""
    if rows.start == 0 and rows.stop >= len(batch.images):
        return batch

    def cut(values: Any) -> Any:
        return None if values is None or len(values) == 0 else values[rows]

    return ImageBatch(
        batch.images[rows],
        np.asarray(batch.labels)[rows],
        list(batch.ids)[rows],
        cut(batch.class_names),
        cut(batch.orig_sizes),
        cut(batch.orig_modes),
        cut(batch.sources),
    )


def _join(name: str, parts: list) -> Any:
    """Concatenate one column's per-batch parts with the column's dtype (string columns stay pandas strings)."""
    if name in _STRING_COLUMNS:
        return pd.Series([v for part in parts for v in part], dtype="string")
    if name == IMAGE:
        return [v for part in parts for v in part]
    dtype = np.float64 if name in (MEAN, STD, MIN, MAX) else np.int64
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _batch_columns(batch: ImageBatch) -> dict[str, Any]:
    """Every standard column of one batch (plain lists and arrays; ``table_from_batches`` types them)."""
    images = batch.images
    n, height, width, channels = images.shape
    if channels not in ALLOWED_CHANNELS:
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    if not (len(batch.labels) == len(batch.ids) == n):
        raise ValueError(f"{n} images but {len(batch.labels)} labels and {len(batch.ids)} ids")
    labels = np.asarray(batch.labels, dtype=np.int64)
    stats = intensity_stats(images)
    sizes = batch.orig_sizes
    return {
        ID: list(batch.ids),
        LABEL: labels,
        CLASS_NAME: list(batch.class_names) if batch.class_names is not None else [str(v) for v in labels],
        IMAGE: [encode_png(img) for img in images],
        HEIGHT: np.full(n, height, dtype=np.int64),
        WIDTH: np.full(n, width, dtype=np.int64),
        CHANNELS: np.full(n, channels, dtype=np.int64),
        ORIG_HEIGHT: np.array([s[0] for s in sizes] if sizes else np.full(n, height), dtype=np.int64),
        ORIG_WIDTH: np.array([s[1] for s in sizes] if sizes else np.full(n, width), dtype=np.int64),
        ORIG_MODE: list(batch.orig_modes) if batch.orig_modes else ["L" if channels == 1 else "RGB"] * n,
        SHA256: [content_hash(img) for img in images],
        PHASH: perceptual_hashes(images),
        MEAN: stats[MEAN],
        STD: stats[STD],
        MIN: stats[MIN],
        MAX: stats[MAX],
        SOURCE: list(batch.sources) if batch.sources else [""] * n,
    }


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
    clean tables); a mixed table raises DataError naming the sizes found. The
    array is allocated once and filled in place: peak memory is the pixels, not
    twice them.
    """
    if len(frame) == 0:
        return np.zeros((0, 0, 0, 1), dtype=np.uint8)
    out: np.ndarray | None = None
    for i, data in enumerate(frame[IMAGE]):
        array = decode_png(data)
        if out is None:
            out = np.empty((len(frame), *array.shape), dtype=np.uint8)
        elif array.shape != out.shape[1:]:
            shapes = sorted({out.shape[1:], array.shape})
            raise DataError(f"images of different shapes in one table: {shapes} (row {i}); run genqc validate first")
        out[i] = array
    assert out is not None
    return out


def iter_decoded(frame: pd.DataFrame, batch_size: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Decode a table in row slices of ``batch_size``: (rows, uint8 (B, H, W, C)) without the whole pixel array."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for begin in range(0, len(frame), batch_size):
        rows = slice(begin, min(begin + batch_size, len(frame)))
        yield rows, decode_images(frame.iloc[rows])
