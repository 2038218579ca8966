"""A feature cache on disk, keyed by content.

Extracting features is the slow part of evaluation (a 224- or 299-pixel network
per image), and the real images rarely change between runs. A cached matrix is
found again only when everything that determines it is the same: the pixels
(SHA-256 over every image's shape and bytes, or the image table's ``sha256``
column, which holds the same per-image hashes), the extractor's identity (name,
SHA-256 of its weights, preprocessing) and the layer. A dataset's name or path is
never part of the key: names stay the same when the data changes.

Files are ``<dir>/<extractor>/<key>.npy``, written atomically; an unreadable
file is a miss and is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genqc.data.table import content_hash
from genqc.io import atomic_path

if TYPE_CHECKING:
    import torch

    from genqc.features.base import FeatureExtractor, ImageInput

LOG = logging.getLogger(__name__)
CACHE_FORMAT = 1  # bump when the file layout or the key recipe changes


def hash_from_content_hashes(hashes: Iterable[str]) -> str:
    """Data hash from per-image content hashes, in order (e.g. an image table's ``sha256`` column)."""
    digest = hashlib.sha256()
    count = 0
    for value in hashes:
        digest.update(str(value).encode())
        digest.update(b"\n")
        count += 1
    digest.update(f"n={count}".encode())
    return digest.hexdigest()


def data_hash(images: ImageInput) -> str:
    """Hash of the pixels: uint8 (N, H, W, C), a list of (H, W, C) arrays, or a float tensor in [-1, 1].

    Equal to ``hash_from_content_hashes`` of the same images' table hashes, so a table
    and its decoded array share cache entries.
    """
    import torch

    if isinstance(images, torch.Tensor):
        from genqc.data.tensors import tensor_to_uint8

        images = tensor_to_uint8(images)  # features are extracted from the rounded pixels too
    return hash_from_content_hashes(content_hash(image) for image in images)


def cache_key(data: str, extractor_identity: str, layer: str) -> str:
    """The file name (without .npy) of one feature matrix."""
    text = json.dumps({"format": CACHE_FORMAT, "data": data, "extractor": extractor_identity, "layer": layer},
                      sort_keys=True)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


class FeatureCache:
    """Feature matrices under ``directory``, one .npy per (data, extractor identity, layer)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def path(self, extractor_name: str, key: str) -> Path:
        return self.directory / extractor_name / f"{key}.npy"

    def load(self, extractor_name: str, key: str) -> np.ndarray | None:
        """The cached matrix, or None (absent or unreadable: both are misses)."""
        path = self.path(extractor_name, key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            LOG.warning("feature cache file %s is unreadable (%s); recomputing it", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return array

    def save(self, extractor_name: str, key: str, array: np.ndarray) -> Path:
        path = self.path(extractor_name, key)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)  # a file handle: np.save would append .npy to a path
        return path


def extract_cached(
    extractor: FeatureExtractor,
    images: ImageInput,
    *,
    layers: Sequence[str],
    cache: FeatureCache | None = None,
    images_hash: str | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = "cpu",
) -> dict[str, np.ndarray]:
    """``extractor.extract`` through the cache: only the layers not cached are computed (in one pass)."""
    if cache is None:
        return extractor.extract(images, layers=layers, batch_size=batch_size, device=device)
    data = images_hash or data_hash(images)
    keys = {layer: cache_key(data, extractor.identity, layer) for layer in layers}
    found = {layer: cache.load(extractor.name, key) for layer, key in keys.items()}
    # a matrix of another row count cannot belong to these images (a hand-copied file): recompute it
    missing = [layer for layer, array in found.items() if array is None or array.ndim != 2
               or array.shape[0] != len(images)]  # fmt: skip
    if missing:
        fresh = extractor.extract(images, layers=missing, batch_size=batch_size, device=device)
        for layer in missing:
            cache.save(extractor.name, keys[layer], fresh[layer])
            found[layer] = fresh[layer]
    return {layer: found[layer] for layer in layers}
