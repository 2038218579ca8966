"""The image sets evaluation compares: pixels decoded on demand, with labels, ids and content hashes.

An :class:`EvalSet` wraps an image table (one row per image, PNG bytes, ``label``,
``id``, ``sha256``) or plain uint8 arrays. Rows are selected (``subset``) without
decoding, so a 1M-row train split costs only its table until a capped subset of
it is decoded. Feature extraction reads a set through ``rows`` (it is a
``LazyImages``), one batch at a time, so extracting a set that is not otherwise
needed as pixels never holds its whole pixel array. The content hashes key the
feature cache and decide exact copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genqc.data.table import ID, IMAGE, LABEL, SHA256, content_hash, decode_images, encode_png
from genqc.features.cache import hash_from_content_hashes

NO_LABEL = -1  # the label of an unlabelled image (an unconditional model's sample)


@dataclass(eq=False)
class EvalSet:
    """One set of images; ``images`` is None until decoded from ``table``."""

    labels: np.ndarray  # (N,) int64, NO_LABEL where unlabelled
    ids: list[str]
    hashes: list[str]  # per-image SHA-256 of shape and pixels (the image table's sha256 column)
    table: pd.DataFrame | None = None  # the rows as an image table, when the set came from one
    _images: np.ndarray | list[np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def from_table(cls, frame: pd.DataFrame) -> EvalSet:
        """A set over an image table's rows (decoded only when pixels are needed)."""
        frame = frame.reset_index(drop=True)
        hashes = frame[SHA256].astype(str).tolist() if SHA256 in frame.columns else None
        images = None
        if hashes is None:  # a table without the hash column: hash the decoded pixels once
            images = decode_images(frame)
            hashes = [content_hash(image) for image in images]
        labels = frame[LABEL].to_numpy(dtype=np.int64, copy=True)
        return cls(labels, frame[ID].astype(str).tolist(), hashes, frame, images)

    @classmethod
    def from_images(
        cls,
        images: np.ndarray | Sequence[np.ndarray],
        labels: Sequence[int] | None = None,
        ids: Sequence[str] | None = None,
    ) -> EvalSet:
        """A set over uint8 (N, H, W, C) pixels (or a list of (H, W, C) arrays of mixed sizes)."""
        n = len(images)
        label_array = np.full(n, NO_LABEL, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        if label_array.shape != (n,):
            raise ValueError(f"{len(label_array)} labels for {n} images")
        id_list = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
        if len(id_list) != n:
            raise ValueError(f"{len(id_list)} ids for {n} images")
        stored = images if isinstance(images, np.ndarray) else list(images)
        return cls(label_array, id_list, [content_hash(image) for image in stored], None, stored)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def pixels(self) -> np.ndarray | list[np.ndarray]:
        """uint8 (N, H, W, C), decoded once."""
        if self._images is None:
            assert self.table is not None  # a set without pixels always has its table
            self._images = decode_images(self.table)
        return self._images

    def rows(self, index: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """uint8 pixels of the rows at ``index``: sliced when decoded already, else decoded from those rows only."""
        index = np.asarray(index, dtype=np.int64)
        if self._images is not None:
            return self._images[index] if isinstance(self._images, np.ndarray) else [self._images[i] for i in index]
        assert self.table is not None  # a set without pixels always has its table
        return decode_images(self.table.iloc[index])

    @property
    def data_hash(self) -> str:
        """The set's content key (the feature cache's), from its per-image hashes in order."""
        return hash_from_content_hashes(self.hashes)

    def subset(self, rows: np.ndarray) -> EvalSet:
        """The given rows, in that order; decoded pixels are carried over, an undecoded table stays undecoded."""
        rows = np.asarray(rows, dtype=np.int64)
        table = self.table.iloc[rows].reset_index(drop=True) if self.table is not None else None
        images = None
        if self._images is not None:
            images = self._images[rows] if isinstance(self._images, np.ndarray) else [self._images[i] for i in rows]
        return EvalSet(self.labels[rows], [self.ids[i] for i in rows], [self.hashes[i] for i in rows], table, images)

    def png(self, row: int) -> bytes:
        """Row ``row`` as PNG bytes: the table's own bytes, or the pixels encoded losslessly."""
        if self.table is not None:
            return bytes(self.table[IMAGE].iloc[row])
        return encode_png(self.pixels[row])
