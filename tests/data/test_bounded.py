"""Bounded readers: regular files only, header sizes checked before allocation, and fuzzed files never escape.

The fuzz tests feed seeded, hypothesis-chosen damage (truncation, flipped bytes,
inserted garbage) of valid npz, idx, parquet and image files to ``load_source``:
whatever the damage, the result is an accounted-for dataset or a GenqcError,
never any other exception.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import signal
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genqc.data import bounded
from genqc.data.sources import load_source
from genqc.data.table import encode_png
from genqc.errors import DataError, GenqcError

GOOD = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
LABELS = np.array([0, 1, 0, 1, 0, 1])
SIZE = dict(size=8, channels=1, resize="stretch")


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    signal.alarm(10)  # a regression would block forever on open(); SIGALRM ends it as a failure
    try:
        with pytest.raises(bounded.NotRegularFile, match="is a FIFO, not a regular file"):
            bounded.open_regular(fifo)
    finally:
        signal.alarm(0)


def test_idx_dimensions_are_multiplied_without_wrapping(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    # 2**21 * 2**21 * 2**22 = 2**64: zero after int64 wrap-around, 16 EiB in fact
    path.write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 2**21, 2**21, 2**22))
    with pytest.raises(DataError, match=r"declares 16384\.0 PiB, over the 1\.0 MiB limit"):
        bounded.read_idx(path, max_bytes=1 << 20)


def test_a_gz_that_is_not_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(_idx(LABELS))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: not a readable gzip stream: Not a gzipped"):
        bounded.read_idx(path, max_bytes=1 << 20)


def test_gzip_data_past_the_header_is_refused_after_reading_one_byte_of_it(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(LABELS) + bytes(50 << 20)))
    with pytest.raises(DataError, match="holds more data than its header declares"):
        bounded.read_idx(path, max_bytes=1 << 20)
    path.write_bytes(gzip.compress(_idx(LABELS)))
    assert bounded.read_idx(path, max_bytes=1 << 20).tolist() == LABELS.tolist()


def test_npz_refuses_pickles_and_keeps_fortran_and_big_endian_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "ok.npz", a=np.asfortranarray(GOOD[0]), b=LABELS.astype(">i4"))
    arrays, notes = bounded.read_npz(tmp_path / "ok.npz", max_bytes=1 << 20)
    assert np.array_equal(arrays["a"], GOOD[0]) and arrays["b"].dtype.isnative and notes == []
    np.savez(tmp_path / "obj.npz", images=np.array([None, 1], dtype=object))
    with pytest.raises(DataError, match=r"obj.npz\[images.npy\]: holds Python objects \(a pickle\); refused"):
        bounded.read_npz(tmp_path / "obj.npz", max_bytes=1 << 20)


def test_the_limit_covers_all_npz_members_together(tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", a=np.zeros(600_000, np.uint8), b=np.zeros(600_000, np.uint8))
    with pytest.raises(DataError, match=r"two.npz\[b.npy\].*over the"):
        bounded.read_npz(tmp_path / "two.npz", max_bytes=1 << 20)


@functools.cache
def _valid_files() -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, source spec template) of one valid file per source kind."""
    npz = io.BytesIO()
    np.savez_compressed(npz, images=GOOD, labels=LABELS, group=np.array(list("abcabc")))
    table = io.BytesIO()
    pd.DataFrame({"image": [encode_png(g) for g in GOOD], "label": LABELS}).to_parquet(table)
    return {
        "npz": ("d.npz", npz.getvalue(), "npz:{}"),
        "parquet": ("d.parquet", table.getvalue(), "parquet:{}"),
        "idx": ("train-images-idx3-ubyte.gz", gzip.compress(_idx(GOOD)), "idx:{}"),
        "png": ("0/a.png", encode_png(GOOD[0]), "folder:{}"),
    }


@st.composite
def damage(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "zero"]))
    out = bytearray(data)
    if kind == "truncate":
        return bytes(out[: draw(st.integers(0, len(out) - 1))])
    if kind == "insert":
        at = draw(st.integers(0, len(out)))
        return bytes(out[:at]) + draw(st.binary(min_size=1, max_size=64)) + bytes(out[at:])
    positions = draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=16))
    for at in positions:
        out[at] = 0 if kind == "zero" else out[at] ^ (1 << draw(st.integers(0, 7)))
    return bytes(out)


@pytest.mark.parametrize("kind", ["npz", "parquet", "idx", "png"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_files_are_accounted_for_or_refused_with_a_genqc_error(tmp_path: Path, kind: str, data) -> None:
    name, valid, spec = _valid_files()[kind]
    case = Path(tempfile.mkdtemp(dir=tmp_path))
    target = case / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.draw(damage(valid)))
    if kind == "idx":
        (case / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(LABELS)))
    if kind == "png":
        (case / "0" / "b.png").write_bytes(encode_png(GOOD[1]))  # the folder keeps one usable image
    try:
        loaded = load_source(spec.format(case if kind in ("idx", "png") else target), max_bytes=1 << 20, **SIZE)
    except GenqcError:
        return
    assert len(loaded.ids) + len(loaded.rejected) == loaded.n_inputs
    assert all(reason for _, reason in loaded.rejected)
