"""Bounded readers for untrusted dataset files: regular files only, sizes checked before allocation.

A dataset file is untrusted input. Three rules hold for every byte genqc reads
from one:

- Only regular files are opened, and the check is made on the open descriptor
  (``O_NONBLOCK`` + ``fstat``), so a FIFO or a device named ``x.png`` can
  neither hang nor feed the reader.
- A size declared by a header (an IDX header, a ``.npy`` header inside an
  ``.npz``, Parquet metadata) is checked against ``max_bytes`` *before* anything
  is allocated, with Python integers (a product of dimensions cannot wrap).
- Compressed data (gzip, zip members) is decompressed as a stream, exactly the
  declared number of bytes and one more: a stream that ends early is truncated,
  a stream with data beyond its header is refused (the shape of a decompression
  bomb). Memory therefore never exceeds what the header declared, and that is
  at most ``max_bytes``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from genqc.errors import ConfigError, DataError

CHUNK = 1 << 20  # bytes per read: the largest transient buffer besides the result
MIB = 1 << 20
LIMIT_KEY = "ingest.max_array_mib"  # the params key behind max_bytes, for messages
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NPY_HEADER_LIMIT = 10_000  # numpy's own default cap on a .npy header's length
# What gzip and zipfile raise on damaged or hostile bytes (zipfile's parsers also let IndexError, struct.error,
# OverflowError... through on malformed headers); all of them mean "this file is not what it claims".
DECOMPRESS_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
)


def file_kind(mode: int) -> str:
    """A readable name for a non-regular file type."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class NotRegularFile(DataError):
    """A path that is a FIFO, socket, device or directory where a file was expected."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file; never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{path} is {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'; headers can claim sizes with more digits than a reader can parse (or a float hold)."""
    if n >= 2**100:
        return f"over 2^{n.bit_length() - 1} B"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_size(declared: int, max_bytes: int, what: str) -> None:
    """Refuse a declared size over the limit before anything is allocated."""
    if declared > max_bytes:
        raise DataError(
            f"{what}: its header declares {human_bytes(declared)}, over the "
            f"{human_bytes(max_bytes)} limit ({LIMIT_KEY}); refused before reading"
        )


def read_exact(handle: BinaryIO, n: int, what: str) -> np.ndarray:
    """Read exactly ``n`` bytes into a new uint8 array, ``CHUNK`` at a time; fewer is a truncated file."""
    out = np.empty(n, dtype=np.uint8)  # untouched pages cost no memory until data arrives
    view = memoryview(out)
    got = 0
    while got < n:
        count = handle.readinto(view[got : got + min(CHUNK, n - got)])
        if not count:
            raise DataError(f"{what}: truncated: its header declares {n} bytes of data, the file holds {got}")
        got += count
    return out


def skip_exact(handle: BinaryIO, n: int, what: str) -> None:
    """Read and discard exactly ``n`` bytes, ``CHUNK`` at a time (one buffer); fewer is a truncated file."""
    buffer = memoryview(bytearray(min(CHUNK, max(n, 1))))
    got = 0
    while got < n:
        count = handle.readinto(buffer[: min(CHUNK, n - got)])
        if not count:
            raise DataError(f"{what}: truncated: its header declares {n} bytes of data, the file holds {got}")
        got += count


def expect_end(handle: BinaryIO, what: str) -> None:
    """Data past the declared size is refused, never read to its end (a decompression bomb's tail)."""
    if handle.read(1):
        raise DataError(
            f"{what}: holds more data than its header declares; refused (a damaged file or a decompression bomb)"
        )


# --------------------------------------------------------------------------- IDX
def read_idx(path: Path, *, max_bytes: int) -> np.ndarray:
    """Parse an IDX file (MNIST format), gzipped or not, within ``max_bytes`` of decoded data."""
    with open_regular(path) as raw:
        handle: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
        try:
            return _read_idx_stream(handle, str(path), max_bytes)
        except DECOMPRESS_ERRORS as exc:
            kind = "gzip stream" if path.name.endswith(".gz") else "file"
            raise DataError(f"{path}: not a readable {kind}: {exc}") from None


def _idx_header(handle: BinaryIO, what: str, max_bytes: int) -> tuple[tuple[int, ...], np.dtype]:
    """Parse an IDX header: its dimensions and element type, the declared size checked against ``max_bytes``."""
    magic = handle.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{what} is not an IDX file (bad magic number)")
    if magic[2] not in IDX_DTYPES:
        raise DataError(f"{what}: unknown IDX element type 0x{magic[2]:02x}")
    ndim = magic[3]
    if ndim == 0:
        raise DataError(f"{what}: IDX header declares no dimensions")
    header = handle.read(4 * ndim)
    if len(header) < 4 * ndim:
        raise DataError(f"{what}: truncated IDX header")
    dims = tuple(int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[magic[2]])
    nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize  # Python ints: no int64 wrap-around
    check_size(nbytes, max_bytes, f"{what} (dimensions {dims})")
    return dims, dtype


def _read_idx_stream(handle: BinaryIO, what: str, max_bytes: int) -> np.ndarray:
    dims, dtype = _idx_header(handle, what, max_bytes)
    data = read_exact(handle, int(np.prod(dims, dtype=object)) * dtype.itemsize, what)
    expect_end(handle, what)
    return data.view(dtype).reshape(dims).astype(dtype.newbyteorder("="))


class ArrayRows:
    """An in-memory array read in row chunks: the reader of arrays a source already holds (builtin datasets)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype = array.dtype

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        """Views of ``rows`` rows at a time, in order."""
        for begin in range(0, self.shape[0], rows):
            yield self.array[begin : begin + rows]


class IdxRows:
    """The rows of an IDX file, read ``rows`` at a time: memory is one chunk, never the file.

    Opening checks the header and then the whole file with ``read_idx``'s rules
    (a file that ends early is truncated, data past the declared size is refused:
    a decompression bomb's tail), both as ``DataError`` naming the file, reading
    through one reusable buffer. Each ``chunks`` pass opens the file again and
    applies the same rules as it goes.
    """

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path, self.max_bytes = path, max_bytes
        with self._open() as (handle, dims, dtype):
            self.shape: tuple[int, ...] = dims
            self.dtype = dtype.newbyteorder("=")
            self.nbytes = int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize
            # The whole file is checked now, before any row is used: a truncated file or a bomb's tail fails
            # here, as when the file was read whole, not after thousands of rows were encoded.
            skip_exact(handle, self.nbytes, str(path))
            expect_end(handle, str(path))

    @contextlib.contextmanager
    def _open(self) -> Iterator[tuple[BinaryIO, tuple[int, ...], np.dtype]]:
        gzipped = self.path.name.endswith(".gz")
        with open_regular(self.path) as raw:
            handle: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
            try:
                dims, dtype = _idx_header(handle, str(self.path), self.max_bytes)
                yield handle, dims, dtype
            except DECOMPRESS_ERRORS as exc:
                raise DataError(f"{self.path}: not a readable {'gzip stream' if gzipped else 'file'}: {exc}") from None

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        """Chunks of at most ``rows`` rows, in native byte order, in file order."""
        what = str(self.path)
        with self._open() as (handle, dims, dtype):
            row_shape, n = dims[1:], dims[0]
            row_bytes = int(np.prod(row_shape, dtype=object)) * dtype.itemsize
            for begin in range(0, n, rows):
                count = min(rows, n - begin)
                data = read_exact(handle, count * row_bytes, what)
                yield data.view(dtype).reshape((count, *row_shape)).astype(self.dtype, copy=False)
            expect_end(handle, what)


# --------------------------------------------------------------------------- NPZ
def read_npz(path: Path, *, max_bytes: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Read every ``.npy`` member of an ``.npz`` archive without pickles and within ``max_bytes`` in all.

    Returns the arrays and notes on members that are not arrays (listed, not read).
    """
    arrays: dict[str, np.ndarray] = {}
    notes: list[str] = []
    with open_regular(path) as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except DECOMPRESS_ERRORS as exc:
            raise DataError(f"{path}: not an .npz archive (np.savez writes one): {exc}") from None
        with archive:
            budget = max_bytes
            for info in archive.infolist():
                what = f"{path}[{info.filename}]"
                if not info.filename.endswith(".npy"):  # folders, other files (is_dir() fails on an empty name)
                    notes.append(f"{path.name}: member {info.filename!r} is not a .npy array; not read")
                    continue
                key = info.filename[: -len(".npy")]
                if key in arrays:
                    raise DataError(f"{what}: the archive holds two members named {info.filename!r}")
                check_size(info.file_size, budget, what)
                try:
                    with archive.open(info) as member:
                        arrays[key] = _read_npy(member, what, budget, info.file_size)
                except DECOMPRESS_ERRORS as exc:
                    raise DataError(f"{what}: damaged archive member: {exc}") from None
                budget -= arrays[key].nbytes
    return arrays, notes


def _npy_header(
    member: BinaryIO, what: str, max_bytes: int, member_size: int
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Parse a .npy member's header; refuse pickles and sizes over the limit or unlike the member's size."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=NPY_HEADER_LIMIT)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=NPY_HEADER_LIMIT)
        else:
            raise DataError(f"{what}: .npy format version {version} is not supported (1.0 and 2.0 are)")
    except ValueError as exc:
        raise DataError(f"{what}: not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise DataError(f"{what}: holds Python objects (a pickle); refused. Save plain numeric or string arrays")
    if dtype.itemsize == 0:
        raise DataError(f"{what}: dtype {dtype} has zero-size elements")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    check_size(nbytes, max_bytes, f"{what} (shape {shape})")
    if member.tell() + nbytes != member_size:
        raise DataError(
            f"{what}: its header declares {human_bytes(nbytes)} of data (shape {shape}) but the "
            f"member holds {human_bytes(member_size - member.tell())}"
        )
    return shape, fortran, dtype


def _read_npy(member: BinaryIO, what: str, max_bytes: int, member_size: int) -> np.ndarray:
    shape, fortran, dtype = _npy_header(member, what, max_bytes, member_size)
    data = read_exact(member, int(np.prod(shape, dtype=object)) * dtype.itemsize, what)
    expect_end(member, what)
    array = data.view(dtype).reshape(shape, order="F" if fortran else "C")
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


class NpzArchive:
    """An ``.npz`` archive's arrays, catalogued from their headers and read whole or in row chunks.

    ``NpzArchive(path, max_bytes=...)`` reads every member's ``.npy`` header
    (and nothing else) with ``read_npz``'s rules: pickles refused, each declared
    size checked against what is left of ``max_bytes`` before anything is read.
    ``read(key)`` then reads one array whole (labels, attributes) and
    ``rows(key)`` gives a reader of its rows in chunks (the images), so an
    archive's pixels are never all in memory. Data is read within its declared
    size: a member that ends early or holds more is a ``DataError``.
    """

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.notes: list[str] = []
        self.members: dict[str, tuple[zipfile.ZipInfo, tuple[int, ...], bool, np.dtype]] = {}
        with self._archive() as archive:
            budget = max_bytes
            for info in archive.infolist():
                what = f"{path}[{info.filename}]"
                if not info.filename.endswith(".npy"):  # folders, other files (is_dir() fails on an empty name)
                    self.notes.append(f"{path.name}: member {info.filename!r} is not a .npy array; not read")
                    continue
                key = info.filename[: -len(".npy")]
                if key in self.members:
                    raise DataError(f"{what}: the archive holds two members named {info.filename!r}")
                check_size(info.file_size, budget, what)
                with self._member(archive, info) as member:
                    shape, fortran, dtype = _npy_header(member, what, budget, info.file_size)
                self.members[key] = (info, shape, fortran, dtype)
                budget -= int(np.prod(shape, dtype=object)) * dtype.itemsize

    @contextlib.contextmanager
    def _archive(self) -> Iterator[zipfile.ZipFile]:
        with open_regular(self.path) as raw:
            try:
                archive = zipfile.ZipFile(raw)
            except DECOMPRESS_ERRORS as exc:
                raise DataError(f"{self.path}: not an .npz archive (np.savez writes one): {exc}") from None
            with archive:
                yield archive

    @contextlib.contextmanager
    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[BinaryIO]:
        try:
            with archive.open(info) as member:
                yield member
        except DECOMPRESS_ERRORS as exc:
            raise DataError(f"{self.path}[{info.filename}]: damaged archive member: {exc}") from None

    def shape(self, key: str) -> tuple[int, ...]:
        return self.members[key][1]

    def read(self, key: str) -> np.ndarray:
        """One array, whole (within its declared size)."""
        info, shape, _, dtype = self.members[key]
        what = f"{self.path}[{info.filename}]"
        with self._archive() as archive, self._member(archive, info) as member:
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            return _read_npy(member, what, nbytes, info.file_size)

    def rows(self, key: str) -> NpyRows:
        """A row-chunk reader of one array (an ``ArrayRows`` over the whole array when it is Fortran-ordered)."""
        return NpyRows(self, key)


class NpyRows:
    """The rows of one ``.npz`` member, ``rows`` at a time: memory is one chunk (see ``NpzArchive``)."""

    def __init__(self, archive: NpzArchive, key: str) -> None:
        self.archive, self.key = archive, key
        _, shape, _, dtype = archive.members[key]
        self.shape: tuple[int, ...] = shape
        self.dtype = dtype.newbyteorder("=")

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        info, shape, fortran, dtype = self.archive.members[self.key]
        if fortran or len(shape) == 0:  # a column-major array has no contiguous rows: read whole (bounded)
            yield from ArrayRows(self.archive.read(self.key)).chunks(rows)
            return
        what = f"{self.archive.path}[{info.filename}]"
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        row_shape, n = shape[1:], shape[0]
        row_bytes = int(np.prod(row_shape, dtype=object)) * dtype.itemsize
        with self.archive._archive() as archive, self.archive._member(archive, info) as member:
            _npy_header(member, what, nbytes, info.file_size)
            for begin in range(0, n, rows):
                count = min(rows, n - begin)
                data = read_exact(member, count * row_bytes, what)
                yield data.view(dtype).reshape((count, *row_shape)).astype(self.dtype, copy=False)
            expect_end(member, what)


# --------------------------------------------------------------------------- Parquet
def read_parquet(path: Path, *, max_bytes: int):  # -> pd.DataFrame (pandas imported lazily)
    """Read a Parquet file after checking its metadata's uncompressed size against ``max_bytes``."""
    # Deferred: genqc.config imports this module (through sources), and loading params must not pay for pyarrow.
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_regular(path) as handle:
        try:
            parquet = pq.ParquetFile(handle)
            metadata = parquet.metadata
            declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
            check_size(declared, max_bytes, str(path))
            table = parquet.read()
            frame = table.to_pandas()
        except (pa.ArrowException, OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ConfigError(f"{path}: columns {duplicated} appear more than once; give each column one name")
    return frame


class ParquetColumns:
    """A Parquet file read column by column: the small columns whole, the image column in row chunks.

    Opening checks the metadata's declared uncompressed size against
    ``max_bytes`` (as ``read_parquet``) and refuses duplicated column names;
    ``iter_column`` then reads one column a row group at a time, so a table's
    images are never all in memory (memory is at most one row group's column).
    """

    ERRORS = (OSError, ValueError, TypeError, KeyError)  # with pyarrow's ArrowException, added when opened

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        with self._file() as parquet:
            metadata = parquet.metadata
            declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
            check_size(declared, max_bytes, str(path))
            names = list(parquet.schema_arrow.names)
            pandas = parquet.schema_arrow.pandas_metadata or {}
        index = {name for name in pandas.get("index_columns", []) if isinstance(name, str)}
        self.columns = [name for name in names if name not in index]  # the columns pandas.read_parquet gives
        duplicated = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if duplicated:
            raise ConfigError(f"{path}: columns {duplicated} appear more than once; give each column one name")

    @contextlib.contextmanager
    def _file(self):  # -> Iterator[pq.ParquetFile]
        import pyarrow as pa  # deferred: see read_parquet
        import pyarrow.parquet as pq

        with open_regular(self.path) as handle:
            try:
                yield pq.ParquetFile(handle, pre_buffer=False)  # pre-buffered ranges stay cached: memory grows
            except (pa.ArrowException, *self.ERRORS) as exc:
                raise DataError(f"{self.path}: not a readable Parquet file: {exc}") from None

    def read_except(self, column: str):  # -> pd.DataFrame
        """Every column but ``column``, with the dtypes ``pandas.read_parquet`` gives."""
        with self._file() as parquet:
            wanted = [name for name in self.columns if name != column]
            return parquet.read(columns=wanted, use_pandas_metadata=True).to_pandas()

    def iter_column(self, column: str, *, rows: int) -> Iterator[list]:
        """One column's values as Python objects, at most ``rows`` at a time, in row order."""
        with self._file() as parquet:
            for batch in parquet.iter_batches(batch_size=rows, columns=[column], use_pandas_metadata=False):
                yield batch.column(0).to_pylist()
