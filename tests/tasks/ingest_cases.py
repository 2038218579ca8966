"""Small datasets of every source kind, and a digest of what ``genqc ingest`` made of them.

The digests pinned in tests/tasks/test_ingest_stream.py were taken from the
ingest that held whole datasets in memory (before sources streamed batches), so
the streamed ingest is checked against it: the same rows, ids, labels, class
names, pixels (their content hash), split, metadata and rejections.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# name -> the ingest overrides of that case (the source is filled in by build_case)
CASES = {
    "digits": {"source": "builtin:digits", "image_size": 16, "channels": 1, "test_fraction": 0.25},
    "shapes_rgb": {"source": "builtin:shapes", "image_size": 16, "channels": 3, "test_fraction": 0.2},
    "folder": {"image_size": 8, "channels": 3, "resize": "crop", "test_fraction": 0.3},
    "npz_metadata": {"image_size": 8, "channels": 1, "test_fraction": 0.25},
    "parquet_split": {"image_size": 8, "channels": 1, "split": "source"},
    "idx_gz": {"image_size": 8, "channels": 1, "split": "source"},
}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _png(array: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def build_case(name: str, root: Path) -> dict:
    """Write case ``name``'s dataset under ``root``; return its ingest overrides with the source."""
    rng = np.random.default_rng(7)
    overrides = dict(CASES[name])
    root.mkdir(parents=True, exist_ok=True)
    if name == "folder":
        for label in ("cat", "dog", "7"):
            (root / label).mkdir()
            for i in range(9):
                shape = (10 + i, 12) if i % 2 else (12, 10 + i)
                Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(root / "dog" / "gray.jpg")
        (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
        (root / "dog" / "empty.png").write_bytes(b"")
        (root / "loose.png").write_bytes(_png(np.zeros((4, 4), np.uint8)))
        overrides["source"] = f"folder:{root}"
    elif name == "npz_metadata":
        images = rng.random((60, 9, 9)) * 255  # floats on the 0-255 scale: a stated white level
        images[5, 0, 0] = np.nan
        images[17, 1, 1] = 300.0
        labels = rng.integers(0, 4, 60).astype(np.float64)
        labels[9] = np.nan
        site = np.array([f"site{i % 3}" for i in range(60)])
        np.savez(root / "d.npz", images=images, labels=labels, site=site, age=np.arange(60) * 1.5)
        overrides["source"] = f"npz:{root / 'd.npz'}"
    elif name == "parquet_split":
        frame = pd.DataFrame(
            {
                "id": [f"r{i}" if i != 4 else None for i in range(40)],
                "label": [["cat", "dog", "owl"][i % 3] for i in range(40)],
                "image": [_png(rng.integers(0, 256, (6 + i % 5, 7), dtype=np.uint8)) for i in range(40)],
                "split": ["test" if i % 4 == 0 else "train" for i in range(40)],
                "group": [["a", "b"][i % 2] for i in range(40)],
            }
        )
        frame.loc[11, "image"] = b"not a png"
        frame.to_parquet(root / "t.parquet", row_group_size=7)
        overrides["source"] = f"parquet:{root / 't.parquet'}"
    elif name == "idx_gz":
        _write_idx(root / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 10, 10)))
        _write_idx(root / "train-labels-idx1-ubyte.gz", rng.integers(0, 5, 50))
        _write_idx(root / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 10, 10)))
        _write_idx(root / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 5, 20))
        overrides["source"] = f"idx:{root}"
    return overrides


def output_digest(out: Path, source_root: Path) -> str:
    """SHA-256 over the content of data/ingest/: every row's identity, pixels' hash, split and metadata.

    PNG bytes and the float statistics are left out (the pixel hash covers the
    pixels; encoder and BLAS versions may change the rest); the source root is
    replaced by a placeholder so the digest does not depend on where it ran.
    """
    digest = hashlib.sha256()
    skip = {"image", "phash", "mean", "std", "min", "max"}
    for split in ("train", "test"):
        frame = pd.read_parquet(out / f"{split}.parquet")
        columns = [c for c in frame.columns if c not in skip]
        digest.update(json.dumps([(c, str(frame[c].dtype)) for c in columns]).encode())
        for row in frame[columns].astype(str).itertuples(index=False):
            digest.update("\x1f".join(row).replace(str(source_root), "<root>").encode())
    rejected = pd.read_parquet(out / "rejected.parquet")
    digest.update(json.dumps(rejected.astype(str).values.tolist()).replace(str(source_root), "<root>").encode())
    digest.update((out / "classes.json").read_bytes())
    digest.update((out / "summary.json").read_bytes())
    return digest.hexdigest()
