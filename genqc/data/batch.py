"""``ImageBatch``: a bounded batch of standardised images and what is known about each row.

Sources yield these one after another (``genqc.data.sources``) and the image
table is built from them (``genqc.data.table``), so no stage has to hold a
dataset's pixels at once. This module needs only NumPy: ``genqc.config`` imports
the sources to parse ``ingest.source``, and loading params must stay free of pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ImageBatch:
    """One batch of standardised images and what is known about each, as a source yields it."""

    images: np.ndarray  # (B, H, W, C) uint8
    labels: Sequence[int] | np.ndarray
    ids: Sequence[str]
    class_names: Sequence[str] | None = None
    orig_sizes: Sequence[tuple[int, int]] | None = None
    orig_modes: Sequence[str] | None = None
    sources: Sequence[str] | None = None
    extra: dict[str, Sequence] | None = None  # per-row columns besides the standard ones (bias attributes)
    split_hints: Sequence[str] | None = None  # the source's own "train"/"test" per row, where it has a split
