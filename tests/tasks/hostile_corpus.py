"""Hostile dataset files for the ingest corpus test, generated from scratch (nothing is stored).

Each builder writes one source under a case directory and returns what the test
expects of ``genqc ingest`` on it: the exit code, the substring the one-line error
must hold (exit 1/2), the number of inputs and the rejected rows' reasons (exit 0).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from genqc.data.table import encode_png

GOOD = np.random.default_rng(0).integers(0, 256, (8, 12, 12), dtype=np.uint8)  # 8 noise images, 12x12
LABELS = np.array([0, 1, 0, 1, 0, 1, 0, 1])


@dataclass
class Case:
    name: str
    source: str  # ingest.source
    exit: int
    error: str = ""  # exit 1/2: a substring of the one-line error (besides the file's name)
    names: str = ""  # exit 1/2: the file the error must name
    inputs: int = 0  # exit 0: inputs == train + test + rejected == this
    rejected: dict[str, str] = field(default_factory=dict)  # exit 0: path -> substring of its reason
    classes: dict[str, int] = field(default_factory=dict)  # exit 0: class name -> label in classes.json
    bomb_mib: int | None = None  # a bomb: the MiB its peak RSS may grow beyond the fixed overhead (None: no check)
    ingest: dict = field(default_factory=dict)  # extra ingest params


# --------------------------------------------------------------------------- builders of raw bytes
def gzip_bomb(prefix: bytes, compressed_bytes: int) -> bytes:
    """A gzip stream of ``prefix`` then zeros, ~1000x its size; built from one repeated deflate block.

    The trailer's CRC is not computed (it would take minutes over 20 GB): a reader
    that honours the header never gets there.
    """
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix + block[len(prefix) :]) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeat = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = head + repeat * max(1, (compressed_bytes - len(head)) // len(repeat)) + deflate.flush()
    return b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + body + struct.pack("<II", 0, 0)


def raw_deflate_bomb(prefix: bytes, compressed_bytes: int) -> bytes:
    """The deflate body of ``gzip_bomb`` (what a zip member holds)."""
    return gzip_bomb(prefix, compressed_bytes)[10:-8]


def zip_archive(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip archive from (name, stored bytes, method, declared uncompressed size, crc) members, as given."""
    local, central = io.BytesIO(), io.BytesIO()
    for name, data, method, size, crc in members:
        offset = local.tell()
        encoded = name.encode()
        local.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
            + encoded
            + data
        )
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), local.tell(), 0)
    return local.getvalue() + directory + end


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(shape: tuple, descr: str = "|u1") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return name, data, 0, len(data), zlib.crc32(data)


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0D: ">f4"}[type_code]
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(dtype).tobytes()


def png(array: np.ndarray) -> bytes:
    return encode_png(array)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb by its header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Seeded random damage to a valid file: truncations, flipped bytes, inserted garbage."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        damaged = bytearray(data)
        kind = rng.choice(("truncate", "flip", "insert"))
        if kind == "truncate":
            damaged = damaged[: rng.randrange(1, len(damaged))]
        elif kind == "flip":
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        else:
            at = rng.randrange(len(damaged))
            damaged[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        out.append(bytes(damaged))
    return out


# --------------------------------------------------------------------------- folder
def folder_case(root: Path, outside: Path) -> Case:
    """One folder source holding every hostile kind of file at once."""
    rejected: dict[str, str] = {}
    inputs = 0

    def put(relative: str | bytes, data: bytes, reason: str | None = None) -> None:
        nonlocal inputs
        path = Path(os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(relative))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        inputs += 1
        if reason:
            rejected[os.fsencode(relative).decode("utf-8", "backslashreplace")] = reason

    for label in ("0", "1", "2", "3"):
        for i in range(2):
            put(f"{label}/good{i}.png", png(GOOD[2 * int(label) + i]))
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    Image.fromarray(GOOD[0][:, :6]).save(rotated, format="JPEG", exif=exif)
    put("3/exif.jpg", rotated.getvalue())
    animated = io.BytesIO()
    frames = [Image.fromarray(GOOD[i]) for i in range(2)]
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    put("1/animated.gif", animated.getvalue(), "multi-frame image (2 frames")
    pages = io.BytesIO()
    frames[0].save(pages, format="TIFF", save_all=True, append_images=frames[1:])
    put("1/pages.tiff", pages.getvalue(), "multi-frame image (2 frames")
    deep = io.BytesIO()
    Image.fromarray(np.full((6, 6), 70_000, dtype=np.int32), mode="I").save(deep, format="TIFF")
    put("2/deep32.tif", deep.getvalue(), "outside 0..65535")
    put("2/bomb.png", png_claiming(100_000, 100_000), "decompression bomb")
    put("2/truncated.png", png(GOOD[3])[:-30], "truncated")
    put("2/zero.png", b"", "empty file")
    put("2/text.png", b"this is not an image\n", "not a readable image")
    put("2/notes.txt", b"notes", "unsupported file type .txt")
    put("2/ghost.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n", "not a readable image")
    put("stray.png", png(GOOD[4]), "not inside a class subfolder")
    put(b"2/caf\xe9.png", png(GOOD[5]))  # a name that is not UTF-8: a row, its id escaped
    put("2/\x1b[31mred\nline.png", png(GOOD[6]))  # terminal escapes in a name: a row
    put("3/nested/deeper.png", png(GOOD[7]))  # class "3"
    for i, damaged in enumerate(mutations(png(GOOD[1]), 6, seed=1)):
        (root / "3").mkdir(exist_ok=True)
        (root / "3" / f"mutated{i}.png").write_bytes(damaged)
        inputs += 1  # a row or a rejection; which one depends on the damage
    os.mkfifo(root / "2" / "fifo.png")
    inputs += 1
    rejected["2/fifo.png"] = "a FIFO, not a regular file"
    (root / "2" / "secret.png").symlink_to(outside / "secret.png")
    (root / "2" / "secret_dir").symlink_to(outside)
    (root / "2" / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "2" / "loop.png").symlink_to(root / "2" / "loop.png")
    (root / "2" / "inside.png").symlink_to(root / "0" / "good0.png")  # inside the dataset: read
    inputs += 5
    rejected |= {
        "2/secret.png": "symlink points outside",
        "2/secret_dir": "symlinked directory",
        "2/dangling.png": "cannot stat",
        "2/loop.png": "cannot stat",
    }
    for hidden in (".ipynb_checkpoints/0.png", "__MACOSX/0/._good0.png", "0/.DS_Store", ".hidden/x.png"):
        (root / hidden).parent.mkdir(parents=True, exist_ok=True)
        (root / hidden).write_bytes(png(GOOD[0]))  # skipped: not an input
    return Case(
        "folder_hostile",
        f"folder:{root}",
        0,
        inputs=inputs,
        rejected=rejected,
        classes={"0": 0, "1": 1, "2": 2, "3": 3},
    )


def folder_named_case(root: Path) -> Case:
    """Named class folders, two pinned: a new folder sorting first takes the next label, never theirs."""
    for name in ("cat", "dog", "aardvark"):
        for i in range(2):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{i}.png").write_bytes(png(GOOD[i]))
    return Case(
        "folder_named_pinned",
        f"folder:{root}",
        0,
        inputs=6,
        classes={"cat": 0, "dog": 1, "aardvark": 2},
        ingest={"class_map": {"cat": 0, "dog": 1}},
    )


def folder_escapes_case(root: Path) -> Case:
    """Terminal escape sequences and newlines in a class name and a rejected file name: printed escaped."""
    for name in ("\x1b[31mred", "plain"):
        for i in range(2):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{i}.png").write_bytes(png(GOOD[i]))
    (root / "plain" / "\x1b[2Jclear\nscreen.txt").write_text("x")
    return Case(
        "folder_escaped_names",
        f"folder:{root}",
        0,
        inputs=5,
        rejected={"plain/\x1b[2Jclear\nscreen.txt": "unsupported file type"},
        classes={"\x1b[31mred": 0, "plain": 1},
    )


# --------------------------------------------------------------------------- npz
def _npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


def npz_cases(directory: Path, outside: Path) -> list[Case]:
    d = directory
    floats = GOOD.astype(np.float32) / 255
    floats[1, 0, 0], floats[2, 3, 3] = np.nan, np.inf
    pickled = zip_archive(
        [
            stored("images.npy", npy_bytes(np.array([{"a": 1}] * 8, dtype=object))),
            stored("labels.npy", npy_bytes(LABELS)),
        ]
    )
    (d / "pickle.npz").write_bytes(pickled)
    good = d / "good.npz"
    np.savez(good, images=GOOD, labels=LABELS)
    (d / "text.npz").write_text("images,labels\n1,2\n")
    (d / "zero.npz").write_bytes(b"")
    (d / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (d / "plain.npz").write_bytes(npy_bytes(GOOD))  # an .npy, not an archive
    claim = npy_header((10**6, 1000, 125), "<f8") + bytes(100)  # 931 GiB declared, 100 bytes held
    huge = zip_archive(
        [
            ("images.npy", zlib.compress(claim)[2:-4], 8, len(claim), zlib.crc32(claim)),
            stored("labels.npy", npy_bytes(LABELS)),
        ]
    )
    (d / "huge.npz").write_bytes(huge)
    shape = (40_000, 28, 28)  # 30 MiB declared, under the case's 32 MiB limit; the stream holds ~20 GB
    header = npy_header(shape)
    declared = len(header) + 40_000 * 28 * 28
    bomb = ("images.npy", raw_deflate_bomb(header, 20 << 20), 8, declared, 0)  # zipfile stops at the declared size
    (d / "bomb.npz").write_bytes(zip_archive([bomb, stored("labels.npy", npy_bytes(np.zeros(40_000, np.uint8)))]))
    lying = zip_archive(
        [
            stored("images.npy", npy_header((8, 12, 12)) + GOOD.tobytes() + bytes(4096)),
            stored("labels.npy", npy_bytes(LABELS)),
        ]
    )
    (d / "lying.npz").write_bytes(lying)
    traversal = zip_archive(
        [
            stored("images.npy", npy_bytes(GOOD)),
            stored("labels.npy", npy_bytes(LABELS)),
            stored(f"../../{outside.name}/secret.npy", npy_bytes(np.arange(8))),
        ]
    )
    (d / "traversal.npz").write_bytes(traversal)
    os.mkfifo(d / "fifo.npz")
    bad_labels = np.array([np.nan, 0.7, 1.7, 2.0**40, -1, 1, 0, 1])
    n = "npz:" + str(d)
    return [
        Case("npz_pickle", f"{n}/pickle.npz", 1, "holds Python objects (a pickle); refused", "pickle.npz"),
        Case(
            "npz_nan_inf_pixels",
            _npz(d / "nan.npz", images=floats, labels=LABELS),
            0,
            inputs=8,
            rejected={"nan-000001": "NaN or Inf", "nan-000002": "NaN or Inf"},
        ),
        Case(
            "npz_string_labels",
            _npz(d / "names.npz", images=GOOD, labels=np.array(list("cdcdcdcd"))),
            0,
            inputs=8,
            classes={"c": 0, "d": 1},
        ),
        Case(
            "npz_labels_2d",
            _npz(d / "l2d.npz", images=GOOD, labels=LABELS[:, None]),
            2,
            "labels must be one value per image",
            "l2d.npz",
        ),
        Case(
            "npz_complex_pixels",
            _npz(d / "complex.npz", images=GOOD.astype(np.complex64), labels=LABELS),
            2,
            "images of dtype complex64 are not supported",
            "complex.npz",
        ),
        Case(
            "npz_bool_pixels",
            _npz(d / "bool.npz", images=GOOD > 9, labels=LABELS),
            2,
            "images of dtype bool are not supported",
            "bool.npz",
        ),
        Case(
            "npz_reserved_column",
            _npz(d / "reserved.npz", images=GOOD, labels=LABELS, sha256=np.arange(8)),
            2,
            "array 'sha256' has the name of a column genqc computes",
            "reserved.npz",
        ),
        Case("npz_text", f"{n}/text.npz", 1, "not an .npz archive", "text.npz"),
        Case("npz_zero_bytes", f"{n}/zero.npz", 1, "not an .npz archive", "zero.npz"),
        Case("npz_truncated", f"{n}/truncated.npz", 1, "not an .npz archive", "truncated.npz"),
        Case("npz_plain_npy", f"{n}/plain.npz", 1, "not an .npz archive", "plain.npz"),
        Case("npz_header_claims_931_gib", f"{n}/huge.npz", 1, "declares 931.3 GiB", "huge.npz", bomb_mib=0),
        Case(
            "npz_member_bomb",
            f"{n}/bomb.npz",
            1,
            "damaged archive member: Bad CRC-32",
            "bomb.npz",
            bomb_mib=32,
            ingest={"max_array_mib": 32},
        ),
        Case("npz_member_longer_than_header", f"{n}/lying.npz", 1, "the member holds", "lying.npz"),
        Case("npz_fifo", f"{n}/fifo.npz", 1, "is a FIFO, not a regular file", "fifo.npz"),
        Case("npz_member_path_traversal", f"{n}/traversal.npz", 0, inputs=8),
        Case(
            "npz_bad_labels",
            _npz(d / "badlab.npz", images=GOOD, labels=bad_labels),
            0,
            inputs=8,
            rejected={
                "badlab-000000": "label is NaN",
                "badlab-000001": "label 0.7 is not an integer",
                "badlab-000002": "label 1.7 is not an integer",
                "badlab-000003": "label 1099511627776 outside the allowed 0..65535",
                "badlab-000004": "label -1 outside",
            },
        ),
    ]


# --------------------------------------------------------------------------- parquet
def parquet_cases(d: Path) -> list[Case]:
    images = [png(GOOD[i]) for i in range(8)]
    pd.DataFrame({"image": images, "label": list("xyxyxyxy")}).to_parquet(d / "names.parquet")
    (d / "not.parquet").write_text("PAR1 but not really")
    whole = (d / "names.parquet").read_bytes()
    (d / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    blocks = pd.DataFrame({"image": [bytes([i]) * (4 << 20) for i in range(10)], "label": [0] * 10})
    blocks.to_parquet(d / "meta_bomb.parquet", compression="zstd")  # 40 MiB uncompressed, a few KiB on disk
    pd.DataFrame(
        {
            "id": ["a", None, "c", "d", "e", "f", "g", "h"],
            "label": [0.0, 1.0, float("nan"), 0.5, 1.0, 0.0, 1.0, 0.0],
            "image": [images[0], images[1], images[2], images[3], b"garbage", None, images[6], images[7]],
        },
    ).to_parquet(d / "bad_rows.parquet")
    p = "parquet:" + str(d)
    return [
        Case("parquet_string_labels", f"{p}/names.parquet", 0, inputs=8, classes={"x": 0, "y": 1}),
        Case("parquet_not_parquet", f"{p}/not.parquet", 1, "not a readable Parquet file", "not.parquet"),
        Case("parquet_truncated", f"{p}/truncated.parquet", 1, "not a readable Parquet file", "truncated.parquet"),
        Case(
            "parquet_metadata_over_limit",
            f"{p}/meta_bomb.parquet",
            1,
            "over the 32.0 MiB limit",
            "meta_bomb.parquet",
            bomb_mib=0,
            ingest={"max_array_mib": 32},
        ),
        Case(
            "parquet_bad_rows",
            f"{p}/bad_rows.parquet",
            0,
            inputs=8,
            rejected={
                "row 1": "id is missing",
                "c": "label is NaN",
                "d": "label 0.5 is not an integer",
                "e": "not a readable image",
                "f": "no image bytes",
            },
        ),
    ]


# --------------------------------------------------------------------------- idx
def idx_cases(d: Path) -> list[Case]:
    def directory(name: str, images: bytes, labels: bytes, gz: bool = True) -> str:
        folder = d / name
        folder.mkdir()
        suffix = ".gz" if gz else ""
        (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(images)
        (folder / f"train-labels-idx1-ubyte{suffix}").write_bytes(labels)
        return f"idx:{folder}"

    good_images, good_labels = gzip.compress(idx_bytes(GOOD)), gzip.compress(idx_bytes(LABELS))
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, 8, 12, 12)
    float_labels = idx_bytes(np.array([0, 1, np.nan, 0.5, 0, 1, 0, 1], dtype=np.float32), 0x0D)
    return [
        Case(
            "idx_gz_not_gzip",
            directory("notgz", idx_bytes(GOOD), good_labels),
            1,
            "not a readable gzip stream",
            "train-images-idx3-ubyte.gz",
        ),
        Case(
            "idx_dims_overflow_int64",
            directory(
                "overflow",
                struct.pack(">BBBBIII", 0, 0, 8, 3, *(2**32 - 1,) * 3) + bytes(64),
                idx_bytes(LABELS),
                gz=False,
            ),
            1,
            "dimensions (4294967295, 4294967295, 4294967295)",
            "train-images-idx3-ubyte",
        ),
        Case(
            "idx_gz_truncated",
            directory("truncated", good_images[: len(good_images) // 2], good_labels),
            1,
            "train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
        ),
        Case(
            "idx_gzip_bomb_small_header",
            directory("bomb_small", gzip_bomb(header, 20 << 20), good_labels),
            1,
            "more data than its header declares",
            "train-images-idx3-ubyte.gz",
            bomb_mib=0,
        ),
        Case(
            "idx_gzip_bomb_at_limit",
            directory(
                "bomb_limit", gzip_bomb(struct.pack(">BBBBIII", 0, 0, 8, 3, 40_000, 28, 28), 20 << 20), good_labels
            ),
            1,
            "more data than its header declares",
            "train-images-idx3-ubyte.gz",
            bomb_mib=32,
            ingest={"max_array_mib": 32},
        ),
        Case(
            "idx_gzip_bomb_over_limit",
            directory(
                "bomb_over", gzip_bomb(struct.pack(">BBBBIII", 0, 0, 8, 3, 60_000, 1000, 1000), 20 << 20), good_labels
            ),
            1,
            "over the 32.0 MiB limit",
            "train-images-idx3-ubyte.gz",
            bomb_mib=0,
            ingest={"max_array_mib": 32},
        ),
        Case(
            "idx_float_labels",
            directory("float_labels", idx_bytes(GOOD), float_labels, gz=False),
            0,
            inputs=8,
            rejected={"train-000002": "label is NaN", "train-000003": "label 0.5 is not an integer"},
        ),
    ]


def build(root: Path) -> list[Case]:
    """Every case, each source in its own directory under ``root``; ``root/outside`` holds files never to read."""
    outside = root / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.png").write_bytes(png(GOOD[0]))
    np.save(outside / "secret.npy", np.arange(8))
    sources = root / "sources"
    for kind in ("folder", "named", "escapes", "npz", "parquet", "idx"):
        (sources / kind).mkdir(parents=True)
    folders = [
        folder_case(sources / "folder", outside),
        folder_named_case(sources / "named"),
        folder_escapes_case(sources / "escapes"),
    ]
    return [
        *folders,
        *npz_cases(sources / "npz", outside),
        *parquet_cases(sources / "parquet"),
        *idx_cases(sources / "idx"),
    ]
