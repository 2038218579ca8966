"""Image sets for metrics: a folder, an image table (.parquet) or an .npz, at their own sizes.

Unlike ingest, nothing is resized here: each extractor resizes by its own fixed
rule, so a folder of mixed sizes measures the same as the same images stored
at one size would, up to that rule. A folder may be flat or hold class
subfolders (labels are irrelevant to the metrics). Files that cannot be read
are reported with their reason, never dropped silently. Decoding reuses the
ingest sources' safe folder walk (no symlink leaves the folder) and their
decompression-bomb-checked opener.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genqc.data.bounded import open_regular
from genqc.data.convert import array_to_uint8, to_channels
from genqc.data.sources import IMAGE_SUFFIXES, _decode, _walk
from genqc.errors import ConfigError, DataError


@dataclass
class ImageSet:
    """uint8 images, stacked as (N, H, W, C) when they share one shape, else a list of (H, W, C)."""

    images: np.ndarray | list[np.ndarray]
    source: str
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file or row, reason)

    def __len__(self) -> int:
        return len(self.images)


def _uniform(images: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Bring channels to one count (any RGB -> all RGB) and stack when the sizes agree."""
    channels = 3 if any(im.shape[2] != 1 for im in images) else 1
    images = [to_channels(im, channels) for im in images]
    return np.stack(images) if len({im.shape for im in images}) == 1 else images


def load_image_set(path: str | Path, *, role: str = "images") -> ImageSet:
    """Read a folder, .parquet image table or .npz; ``role`` ("real", "fake") names it in errors."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{role} path {path} not found; give an image folder, an image table (.parquet) "
                          "or an .npz of images")  # fmt: skip
    if path.is_dir():
        loaded = _load_folder(path)
    elif path.suffix.lower() == ".npz":
        loaded = _load_npz(path, role)
    elif path.suffix.lower() == ".parquet":
        loaded = _load_table(path, role)
    else:
        raise ConfigError(f"{role} path {path}: unsupported file type {path.suffix or '(none)'}; give an image "
                          "folder, an image table (.parquet) or an .npz of images")  # fmt: skip
    if len(loaded) == 0:
        reasons = "; ".join(sorted({reason for _, reason in loaded.rejected})[:3])
        detail = f" ({len(loaded.rejected)} rejected: {reasons})" if loaded.rejected else ""
        raise ConfigError(f"{role} path {path} holds no readable images{detail}")
    return loaded


def _load_folder(root: Path) -> ImageSet:
    # ingest's own walker and decoder (genqc.data.sources): links out of the folder, special files, bombs,
    # multi-frame and undecodable files are rejected with the same reasons
    files, rejected, _hidden = _walk(root)
    images = []
    for file in files:
        relative = str(file.relative_to(root))
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            rejected.append((relative, f"unsupported file type {file.suffix or '(none)'}"))
            continue
        if file.stat().st_size == 0:
            rejected.append((relative, "empty file"))
            continue
        try:
            with open_regular(file) as handle:
                decoded = _decode(handle)
        except (OSError, DataError, ValueError) as exc:
            rejected.append((relative, f"not read: {exc}"))
            continue
        if isinstance(decoded, str):
            rejected.append((relative, decoded))
            continue
        images.append(decoded[0])
    return ImageSet(_uniform(images) if images else [], f"folder:{root}", rejected)


def _load_npz(path: Path, role: str) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{role} path {path} is not a readable .npz ({exc})") from None
    if "images" in arrays:
        raw = arrays["images"]
    elif len(arrays) == 1:
        raw = next(iter(arrays.values()))
    else:
        raise ConfigError(f"{role} path {path}: needs an array named 'images' (or a single array); "
                          f"found {sorted(arrays)}")  # fmt: skip
    if raw.ndim == 3:
        raw = raw[:, :, :, None]  # (N, H, W) -> (N, H, W, 1)
    if raw.ndim != 4 or raw.shape[3] not in (1, 3, 4):
        raise ConfigError(f"{role} path {path}: images must be (N, H, W) or (N, H, W, C) with C in 1, 3, 4; "
                          f"got shape {raw.shape}")  # fmt: skip
    if raw.dtype.kind not in "uif":
        raise ConfigError(f"{role} path {path}: images must be numeric, got dtype {raw.dtype}")
    max_value = 255.0 if raw.dtype.kind == "f" and raw.size and float(np.nanmax(raw)) > 1.0 else None
    try:
        pixels = array_to_uint8(raw, max_value=max_value)
    except ValueError as exc:
        raise ConfigError(f"{role} path {path}: {exc}") from None
    if pixels.shape[3] == 4:
        pixels = np.stack([to_channels(im, 3) for im in pixels])
    return ImageSet(pixels, f"npz:{path}")


def _load_table(path: Path, role: str) -> ImageSet:
    from genqc.data import table as tbl

    frame = tbl.read_table(str(path))
    images, rejected = [], []
    for row_id, data in zip(frame[tbl.ID], frame[tbl.IMAGE], strict=True):
        try:
            images.append(tbl.decode_png(data))
        except Exception as exc:  # a corrupt PNG or a foreign mode: reported per row, the rest still count
            rejected.append((str(row_id), f"decode failed: {exc}"))
    return ImageSet(_uniform(images) if images else [], f"parquet:{path}", rejected)
