"""A feature cache on disk, bound to the content it describes and the code that made it.

Extracting features is the slow part of evaluation (a 224- or 299-pixel network per
image), and the real images rarely change between runs. A cached matrix is used again
only when everything that determines it is the same, and only after it proves it belongs
to the images:

- **The key** covers the pixels (SHA-256 over every image's shape and bytes, or the image
  table's ``sha256`` column, which holds the same per-image hashes), the extractor's
  identity (name, weights file hash, preprocessing), a SHA-256 of the *live* weights (the
  module's state_dict bytes: weights changed in memory count), a SHA-256 of the *code*
  (the source files of every class the extractor is built from: its own module,
  ``genqc.features.base``, the model's modules, torch's layers; plus the torch version),
  and the layer. A dataset's name or path is never part of the key: names stay the same
  when the data changes. So an extractor whose code changes while its identity string
  does not gets a new key and never meets its stale features.
- **Each entry is verified on load** against the images it claims to describe: the file
  stores its key's ingredients, the row count, and the features of a few probe rows
  (chosen from the data hash); on load those rows are re-extracted and must match.
  A file planted under another data set's key (features of real images filed as the
  features of noise), a file whose key ingredients differ, or a truncated file is never
  used: it is recomputed, with a warning naming the reason.

Files are ``<dir>/<extractor>/<key>.npz`` (``features`` plus a JSON ``meta`` string, no
pickles), written atomically. The same layout serves two homes: a private cache that
any run fills on first use, and a *store* written by one producer (the pipeline's
``features`` stage, a DVC output) that others open ``read_only``: they use its verified
entries and extract what it lacks without writing into it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genqc.data.table import content_hash
from genqc.io import atomic_path

# torch (and the modules that bring it) is imported inside the functions that use it: the hash helpers here
# serve `genqc metrics` on NumPy features, which must not load torch (seconds) for them.
if TYPE_CHECKING:
    import torch

    from genqc.features.base import FeatureExtractor, ImageInput

LOG = logging.getLogger(__name__)
CACHE_FORMAT = 2  # bump when the file layout or the key recipe changes
PROBE_ROWS = 3  # rows re-extracted on every load to prove an entry describes these images
# A probe row matches when max |stored - fresh| <= PROBE_TOLERANCE x (max |fresh| + 1e-6): batch
# composition and thread count move float32 features by ~1e-6 relative; other images by O(1).
PROBE_TOLERANCE = 1e-3


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
    """Hash of the pixels: uint8 (N, H, W, C), a list of (H, W, C) arrays, lazy rows, or a float tensor in [-1, 1].

    Equal to ``hash_from_content_hashes`` of the same images' table hashes, so a table
    and its decoded array share cache entries.
    """
    import torch

    if isinstance(images, torch.Tensor):
        from genqc.data.tensors import tensor_to_uint8

        images = tensor_to_uint8(images)  # features are extracted from the rounded pixels too
    elif hasattr(images, "rows"):  # LazyImages: decoded a chunk at a time, never whole
        lazy, n = images, len(images)
        images = (image for start in range(0, n, 256) for image in lazy.rows(np.arange(start, min(start + 256, n))))
    return hash_from_content_hashes(content_hash(image) for image in images)


@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    """SHA-256 of a source file (memoised per path, modification time and size)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_sha256(extractor: object) -> str:
    """SHA-256 over the source of every class the extractor is made of, and the torch version.

    Walks the extractor's modules (``nn.Module.modules()``) and each one's class hierarchy,
    so the extractor's own file, ``genqc.features.base`` (the shared preprocessing), the
    model's file (e.g. ``genqc.models.classifier``) and the torch layers it uses are all
    covered: a change in any of them is a new cache key.
    """
    import torch

    classes = {type(extractor)}
    modules = getattr(extractor, "modules", None)
    if callable(modules):
        classes |= {type(m) for m in modules()}
    files = set()
    for cls in classes:
        for base in inspect.getmro(cls):
            if base is object:
                continue
            try:
                source = inspect.getsourcefile(base)
            except TypeError:  # a built-in or C extension class: no source file
                source = None
            if source:
                files.add(os.path.realpath(source))
    digest = hashlib.sha256(f"torch={torch.__version__}".encode())
    for path in sorted(files):
        stat = os.stat(path)
        digest.update(f"\n{os.path.basename(path)}={_file_sha256(path, stat.st_mtime_ns, stat.st_size)}".encode())
    return digest.hexdigest()


def weights_sha256(extractor: object) -> str:
    """SHA-256 of the extractor's live state_dict (buffers included), or '' when it has none."""
    from genqc.features.base import state_dict_sha256

    state_dict = getattr(extractor, "state_dict", None)
    return state_dict_sha256(state_dict()) if callable(state_dict) else ""


def cache_key(data: str, extractor_identity: str, layer: str, *, code: str = "", weights: str = "") -> str:
    """The file name (without suffix) of one feature matrix: a SHA-256 of everything that determines it."""
    text = json.dumps(
        {
            "format": CACHE_FORMAT,
            "data": data,
            "extractor": extractor_identity,
            "layer": layer,
            "code": code,
            "weights": weights,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def probe_rows(data: str, n: int) -> np.ndarray:
    """``PROBE_ROWS`` distinct row indices picked from the data hash (the first and last row, and one between)."""
    if n <= PROBE_ROWS:
        return np.arange(n)
    middle = 1 + int(data[:12], 16) % (n - 2)
    return np.array(sorted({0, middle, n - 1}))


class FeatureCache:
    """Feature matrices under ``directory``, one .npz per (data, extractor, code, weights, layer).

    ``read_only``: entries are read and verified as usual, but nothing is ever written
    (a store another process owns, such as a DVC output: writing into it would change
    that output behind its owner's back).
    """

    def __init__(self, directory: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self.hits = 0
        self.misses = 0
        self.rejected = 0  # entries found but refused (stale, planted, unreadable)
        self.computed: list[tuple[str, str, str]] = []  # (extractor, data hash, layer) extracted through this cache

    def path(self, extractor_name: str, key: str) -> Path:
        return self.directory / extractor_name / f"{key}.npz"

    def load(
        self, extractor_name: str, key: str, expect: dict[str, object] | None = None
    ) -> tuple[np.ndarray, dict[str, object]] | None:
        """``(features, meta)``, or None: absent, unreadable, or its recorded ingredients differ from ``expect``."""
        path = self.path(extractor_name, key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                array, meta = archive["features"], json.loads(str(archive["meta"]))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            return self._reject(path, f"unreadable ({exc})")
        for name, value in (expect or {}).items():
            if meta.get(name) != value:
                return self._reject(path, f"recorded {name} {meta.get(name)!r} is not {value!r}")
        if array.ndim != 2 or not np.isfinite(array).all():
            return self._reject(path, f"not a finite 2-D matrix (shape {array.shape})")
        self.hits += 1
        return array, meta

    def _reject(self, path: Path, reason: str) -> None:
        LOG.warning("feature cache entry %s is not used: %s; recomputing it", path, reason)
        self.misses += 1
        self.rejected += 1
        return None

    def save(self, extractor_name: str, key: str, array: np.ndarray, meta: dict[str, object]) -> Path:
        if self.read_only:
            raise PermissionError(f"feature store {self.directory} is open read-only")
        path = self.path(extractor_name, key)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=array, meta=np.array(json.dumps(meta, sort_keys=True)))  # no pickles
        return path


def _rows(images: ImageInput, index: np.ndarray) -> ImageInput:
    """The images at ``index``, in the input's own form (array, tensor, list or lazily decoded rows)."""
    if isinstance(images, np.ndarray):
        return images[index]
    if hasattr(images, "index_select"):  # a torch tensor
        import torch

        return images[torch.as_tensor(index)]
    if hasattr(images, "rows"):  # LazyImages (e.g. an EvalSet over a table): decodes only these rows
        return images.rows(index)
    return [images[int(i)] for i in index]


def _meta(data: str, extractor: FeatureExtractor, layer: str, code: str, weights: str, rows: int) -> dict[str, object]:
    """What an entry records about itself: its key's ingredients and its row count."""
    return {
        "format": CACHE_FORMAT,
        "data": data,
        "extractor": extractor.identity,
        "layer": layer,
        "code": code,
        "weights": weights,
        "rows": rows,
    }


def load_verified(
    extractor: FeatureExtractor,
    images: ImageInput,
    *,
    layers: Sequence[str],
    cache: FeatureCache,
    images_hash: str | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = "cpu",
) -> dict[str, np.ndarray]:
    """The layers ``cache`` holds a verified entry for (the others are absent from the result).

    An entry counts only when its recorded ingredients and row count match and its
    probe rows, re-extracted now (a few images, not the set), match the stored ones (see
    the module docstring); any other entry is reported with a warning and left out.
    """
    data = images_hash or data_hash(images)
    code, weights = code_sha256(extractor), weights_sha256(extractor)
    probes = probe_rows(data, len(images))
    found: dict[str, np.ndarray] = {}
    fresh_probes: dict[str, np.ndarray] | None = None
    for layer in layers:
        key = cache_key(data, extractor.identity, layer, code=code, weights=weights)
        entry = cache.load(extractor.name, key, _meta(data, extractor, layer, code, weights, len(images)))
        if entry is not None and entry[0].shape[0] != len(images):
            entry = cache._reject(cache.path(extractor.name, key), f"{entry[0].shape[0]} rows for {len(images)} images")
        if entry is not None:
            if fresh_probes is None:  # one small extraction serves every layer's check
                fresh_probes = extractor.extract(
                    _rows(images, probes), layers=list(layers), batch_size=batch_size, device=device
                )
            stored, fresh = entry[0][probes], fresh_probes[layer]
            scale = float(np.abs(fresh).max()) + 1e-6
            if stored.shape != fresh.shape or float(np.abs(stored - fresh).max()) > PROBE_TOLERANCE * scale:
                entry = cache._reject(
                    cache.path(extractor.name, key),
                    f"its features of rows {probes.tolist()} differ from those images' features "
                    "(planted, or made by other code or weights)",
                )
        if entry is not None:
            found[layer] = entry[0]
    return found


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
    """``extractor.extract`` through the cache: only layers without a verified entry are computed (in one pass).

    Verified entries are used as :func:`load_verified` says; the missing layers are
    extracted and saved (overwriting a refused entry), unless the cache is read-only.
    The result is the same either way, up to float round-off (``PROBE_TOLERANCE``).
    """
    if cache is None:
        return extractor.extract(images, layers=layers, batch_size=batch_size, device=device)
    data = images_hash or data_hash(images)
    found = load_verified(
        extractor, images, layers=layers, cache=cache, images_hash=data, batch_size=batch_size, device=device
    )
    missing = [layer for layer in layers if layer not in found]
    if missing:
        fresh = extractor.extract(images, layers=missing, batch_size=batch_size, device=device)
        cache.computed += [(extractor.name, data, layer) for layer in missing]
        if not cache.read_only:
            code, weights = code_sha256(extractor), weights_sha256(extractor)
            for layer in missing:
                key = cache_key(data, extractor.identity, layer, code=code, weights=weights)
                cache.save(extractor.name, key, fresh[layer], _meta(data, extractor, layer, code, weights, len(images)))
        found.update(fresh)
    return {layer: found[layer] for layer in layers}
