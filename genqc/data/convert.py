"""Bring decoded images of any mode, depth and size to the table's uint8 format.

Every source funnels through here so that a 16-bit PNG, a palette GIF-style PNG,
an RGBA WebP and an 8x8 scikit-learn digit all end up as uint8 (H, W, C) at the
configured size by the same, documented rules:

- 16-bit and 32-bit integer images are scaled to 8 bits by rounding (value/257),
  never truncated; a 32-bit image holding values outside 0..65535 is refused,
  never clipped (its scale is unknowable).
- Array datasets (npz, idx) get one white level per array, stated by
  ``white_level``; a row with NaN, Inf or a value outside 0..white is refused
  with its reason (``rows_to_uint8``), never clipped.
- Alpha is composited over black (the background of every offline dataset here).
- Palette images are expanded through their palette before any conversion.
- Channels: 1 uses PIL's ITU-R 601-2 luma; 3 uses RGB (grayscale is replicated).
- Size: ``stretch`` resizes to the square target, ``crop`` resizes the shorter
  side and centre-crops, ``pad`` shrinks only if too large (keeping aspect) and
  centre-pads with zeros. Resampling is Lanczos (antialiased).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
from PIL import Image

ResizeMode = Literal["stretch", "crop", "pad"]


def array_to_uint8(array: np.ndarray, *, max_value: float | None = None) -> np.ndarray:
    """Scale an integer or float pixel array to uint8 by rounding.

    ``max_value`` is the white level of the input (255 for uint8, 65535 for
    uint16, 1.0 for floats in [0, 1], 16 for scikit-learn's digits). When omitted
    it is taken from the dtype; floats are assumed to be in [0, 1].
    """
    if array.dtype == np.uint8 and max_value in (None, 255):
        return array
    if max_value is None:
        if array.dtype.kind == "f":
            max_value = 1.0
        elif array.dtype.kind in "ui":
            max_value = float(np.iinfo(array.dtype).max)
        else:
            raise ValueError(f"unsupported pixel dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError("pixel values contain NaN or Inf")
    scaled = np.rint(array.astype(np.float64) * (255.0 / max_value))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def white_level(array: np.ndarray) -> tuple[float, str | None]:
    """The value that means white in an array dataset, and a note when it was inferred from the values.

    uint8: 255; uint16: 65535; floats: 1.0 when every finite value is at most 1,
    else 255; other integer types: 255 when every value is at most 255, else
    65535. A row outside 0..white is then refused by ``rows_to_uint8``.
    """
    if array.dtype == np.uint8:
        return 255.0, None
    if array.dtype == np.uint16:
        return 65535.0, None
    if array.dtype.kind not in "uif":
        raise ValueError(f"pixels of dtype {array.dtype} are not supported; use unsigned integers or floats in [0, 1]")
    if array.size == 0:
        return (1.0 if array.dtype.kind == "f" else 255.0), None
    if array.dtype.kind == "f":
        finite = array[np.isfinite(array)]
        if finite.size == 0 or float(finite.max()) <= 1.0:
            return 1.0, None
        return 255.0, f"float pixels above 1.0 (max {float(finite.max()):g}): read on the 0-255 scale"
    high = int(array.max())
    if high <= 255:
        return 255.0, None
    return 65535.0, f"{array.dtype} pixels above 255 (max {high}): read as 16-bit (white = 65535)"


def white_level_of_chunks(chunks: Iterable[np.ndarray], dtype: np.dtype) -> tuple[float, str | None]:
    """``white_level`` of an array read in row chunks: the same answer, with one chunk in memory at a time.

    uint8 and uint16 need no pass over the data (the chunks are not read).
    """
    dtype = np.dtype(dtype)
    if dtype in (np.uint8, np.uint16) or dtype.kind not in "uif":
        return white_level(np.zeros(0, dtype))
    high: float | int | None = None
    for chunk in chunks:
        values = chunk[np.isfinite(chunk)] if dtype.kind == "f" else chunk
        if values.size:
            top = values.max().item()
            high = top if high is None else max(high, top)
    if high is None:
        return white_level(np.zeros(0, dtype))
    return white_level(np.array([high], dtype))


def rows_to_uint8(array: np.ndarray, *, white: float) -> tuple[np.ndarray, list[str | None]]:
    """Scale (N, ...) rows with white level ``white`` to uint8 by rounding; refuse rows that do not fit.

    Returns the uint8 array (refused rows zeroed) and each row's reason (None
    where the row is valid): NaN or Inf pixels, or values outside 0..white.
    """
    n = len(array)
    reasons: list[str | None] = [None] * n
    full_range = array.dtype.kind == "u" and np.iinfo(array.dtype).max <= white  # uint8 at 255: nothing to check
    if n == 0 or array.size == 0 or full_range:
        return array_to_uint8(array, max_value=white), reasons  # uint8 at 255 is returned as is, no copy
    flat = array.reshape(n, -1)  # (N, ...) -> (N, H*W*C)
    finite = np.isfinite(flat).all(axis=1) if array.dtype.kind == "f" else np.ones(n, dtype=bool)
    low = np.where(finite, flat.min(axis=1), 0)
    high = np.where(finite, flat.max(axis=1), 0)
    fits = finite & (low >= 0) & (high <= white)
    for i in np.flatnonzero(~fits):
        span = f"pixel values span {float(low[i]):g}..{float(high[i]):g}, outside 0..{white:g}"
        reasons[i] = "pixel values contain NaN or Inf" if not finite[i] else span
    if fits.all():
        return array_to_uint8(array, max_value=white), reasons
    out = np.zeros(array.shape, dtype=np.uint8)
    keep = np.flatnonzero(fits)
    if len(keep):
        out[keep] = array_to_uint8(array[keep], max_value=white)
    return out, reasons


def pil_to_array(img: Image.Image) -> np.ndarray:
    """Decode any PIL image to uint8 (H, W, C) with C in {1, 3, 4} preserving colour and alpha."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        raw = np.asarray(img)
        if img.mode == "I" and raw.size:
            low, high = int(raw.min()), int(raw.max())
            if low < 0 or high > 65535:
                raise ValueError(
                    f"32-bit integer pixels span {low}..{high}, outside 0..65535; refused, not "
                    "clipped: save the image as 8- or 16-bit"
                )
            raw = raw.astype(np.uint8) if high <= 255 else raw.astype(np.uint16)
        return array_to_uint8(raw)[:, :, None]
    if img.mode == "F":
        raise ValueError("32-bit float image; save it as 8- or 16-bit integer PNG/TIFF")
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.uint8)[:, :, None]
    if img.mode == "LA":
        return np.asarray(img.convert("RGBA"), dtype=np.uint8)
    if img.mode in ("RGBA", "RGBa", "PA"):
        return np.asarray(img.convert("RGBA"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _flatten_alpha(array: np.ndarray) -> np.ndarray:
    """Composite an RGBA array over black, rounding: out = rgb * alpha / 255."""
    rgb = array[:, :, :3].astype(np.float64)
    alpha = array[:, :, 3:4].astype(np.float64) / 255.0
    return np.rint(rgb * alpha).astype(np.uint8)


def to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """Convert uint8 (H, W, C), C in {1, 3, 4}, to the requested channel count (1 or 3)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 4:
        array = _flatten_alpha(array)
    if array.shape[2] == channels:
        return array
    if channels == 3:
        return np.repeat(array, 3, axis=2)
    luma = Image.fromarray(array, mode="RGB").convert("L")  # ITU-R 601-2
    return np.asarray(luma, dtype=np.uint8)[:, :, None]


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    if array.shape[:2] == (height, width):
        return array
    mode = "L" if array.shape[2] == 1 else "RGB"
    img = Image.fromarray(array[:, :, 0] if mode == "L" else array, mode=mode)
    out = np.asarray(img.resize((width, height), Image.Resampling.LANCZOS), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def to_size(array: np.ndarray, size: int, mode: ResizeMode) -> np.ndarray:
    """Bring uint8 (H, W, C) to (size, size, C) by the rule ``mode`` (see the module doc)."""
    height, width = array.shape[:2]
    if mode == "stretch":
        return _resize(array, size, size)
    if mode == "crop":
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        resized = _resize(array, new_h, new_w)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return resized[top : top + size, left : left + size]
    if mode == "pad":
        if height > size or width > size:
            scale = size / max(height, width)
            array = _resize(array, max(1, round(height * scale)), max(1, round(width * scale)))
            height, width = array.shape[:2]
        out = np.zeros((size, size, array.shape[2]), dtype=np.uint8)
        top, left = (size - height) // 2, (size - width) // 2
        out[top : top + height, left : left + width] = array
        return out
    raise ValueError(f"unknown resize mode {mode!r}; allowed: stretch, crop, pad")


def standardise(array: np.ndarray, *, size: int, channels: int, resize: ResizeMode) -> np.ndarray:
    """uint8 (H, W, C) in any channel layout -> uint8 (size, size, channels)."""
    return to_size(to_channels(array, channels), size, resize)
