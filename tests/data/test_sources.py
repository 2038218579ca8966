"""Every ingest source, on tiny files the tests make, and every corrupt-input case."""

from __future__ import annotations

import gzip
import io
import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genqc.data.sources import load_source, open_source, parse_source, read_idx
from genqc.data.table import encode_png
from genqc.errors import ConfigError, DataError

SIZE = dict(size=16, channels=1, resize="stretch")


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def test_builtin_digits_is_scaled_to_uint8_with_white_at_255() -> None:
    loaded = load_source("builtin:digits", **SIZE)
    assert loaded.images.shape == (1797, 16, 16, 1)
    assert loaded.images.dtype == np.uint8 and loaded.images.max() == 255
    assert set(loaded.labels) == set(range(10))
    assert loaded.orig_sizes[0] == (8, 8)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_keeps_the_source_split_as_hints(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28)), gz=gz)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 2, 0, 1, 2]), gz=gz)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28)), gz=gz)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2]), gz=gz)
    loaded = load_source(f"idx:{tmp_path}", size=28, channels=1, resize="pad")
    assert loaded.images.shape == (9, 28, 28, 1)
    assert loaded.split_hints == ["train"] * 6 + ["test"] * 3
    raw = read_idx(next(tmp_path.glob("train-images*")))
    assert np.array_equal(loaded.images[:6, :, :, 0], raw)


def test_idx_with_a_lying_header_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28) + b"\0" * 100)
    with pytest.raises(DataError, match="truncated: its header declares 7840 bytes of data, the file holds 100"):
        read_idx(path)


def _save(img: Image.Image, path: Path, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)


def make_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), "RGB")
    _save(rgb.convert("L"), root / "cat" / "gray.png")
    _save(rgb, root / "cat" / "rgb.jpg", quality=95)
    _save(rgb.convert("RGBA"), root / "cat" / "rgba.png")
    _save(rgb.convert("P"), root / "dog" / "palette.png")
    _save(Image.fromarray((rng.integers(0, 65535, (12, 9))).astype(np.uint16)), root / "dog" / "deep16.png")
    _save(rgb, root / "dog" / "photo.bmp")
    _save(rgb, root / "dog" / "photo.webp", lossless=True)
    _save(rgb.convert("CMYK"), root / "dog" / "cmyk.jpg")


def test_folder_reads_every_mode_and_format_and_keeps_original_sizes(tmp_path: Path) -> None:
    make_folder(tmp_path)
    loaded = load_source(f"folder:{tmp_path}", size=16, channels=3, resize="crop")
    assert loaded.rejected == []
    assert len(loaded.ids) == 8 and loaded.images.shape == (8, 16, 16, 3)
    by_id = dict(zip(loaded.ids, zip(loaded.labels, loaded.orig_sizes, loaded.orig_modes, strict=True), strict=True))
    assert by_id["cat/gray.png"] == (0, (20, 30), "L")
    assert by_id["dog/deep16.png"][1:] == ((12, 9), "I;16")
    assert by_id["dog/cmyk.jpg"][2] == "CMYK"
    assert set(loaded.class_names) == {"cat", "dog"}


def test_sixteen_bit_images_are_rounded_not_truncated(tmp_path: Path) -> None:
    value = np.full((4, 4), 257 * 100 + 200, dtype=np.uint16)  # 100.78 in 8-bit -> rounds to 101
    _save(Image.fromarray(value), tmp_path / "0" / "a.png")
    loaded = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert loaded.images.max() == 101 and loaded.labels.tolist() == [0]


def test_folder_with_corrupt_inputs_accounts_for_every_file(tmp_path: Path, monkeypatch) -> None:
    make_folder(tmp_path)
    good = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8)  # incompressible
    Image.fromarray(noise).save(good, format="PNG")
    (tmp_path / "cat" / "truncated.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (tmp_path / "cat" / "empty.png").write_bytes(b"")
    (tmp_path / "cat" / "notes.png").write_text("this is not an image")
    (tmp_path / "cat" / "readme.txt").write_text("docs")
    (tmp_path / "stray.png").write_bytes(good.getvalue())
    _save(Image.fromarray(np.zeros((100, 100), np.uint8)), tmp_path / "dog" / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 100x100 = 10,000 > 2 x limit: a bomb
    loaded = load_source(f"folder:{tmp_path}", size=16, channels=1, resize="stretch")
    reasons = dict(loaded.rejected)
    assert reasons["cat/empty.png"] == "empty file"
    assert reasons["cat/notes.png"] == "not a readable image"
    assert "truncated" in reasons["cat/truncated.png"]
    assert reasons["cat/readme.txt"].startswith("unsupported file type .txt")
    assert reasons["stray.png"] == "not inside a class subfolder"
    assert reasons["dog/bomb.png"].startswith("decompression bomb")
    assert len(loaded.ids) + len(loaded.rejected) == loaded.n_inputs == 14


def test_folder_symlink_escaping_the_dataset_is_rejected_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(outside)
    root = tmp_path / "data"
    _save(Image.fromarray(np.zeros((4, 4), np.uint8)), root / "a" / "ok.png")
    (root / "a" / "escape.png").symlink_to(outside)
    loaded = load_source(f"folder:{root}", size=4, channels=1, resize="stretch")
    assert loaded.ids == ["a/ok.png"]
    assert loaded.rejected == [("a/escape.png", "symlink points outside the dataset directory")]


def test_missing_or_empty_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory not found"):
        load_source(f"folder:{tmp_path / 'nope'}", **SIZE)
    with pytest.raises(ConfigError, match="no usable images"):
        load_source(f"folder:{tmp_path}", **SIZE)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    with pytest.raises(ConfigError, match="1 inputs rejected: empty file"):
        load_source(f"folder:{tmp_path}", **SIZE)


def test_npz_source_keeps_per_row_metadata_as_columns(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((5, 10, 10)).astype(np.float32)  # floats in [0, 1]
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 0, 1, 1]), group=np.array(list("abbab")))
    loaded = load_source(f"npz:{tmp_path / 'd.npz'}", size=10, channels=1, resize="stretch")
    assert np.array_equal(loaded.images[:, :, :, 0], np.rint(images * 255).astype(np.uint8))
    assert loaded.metadata["group"] == list("abbab")
    np.savez(tmp_path / "bad.npz", pixels=images)
    with pytest.raises(ConfigError, match="needs arrays 'images' and 'labels'; found \\['pixels'\\]"):
        load_source(f"npz:{tmp_path / 'bad.npz'}", **SIZE)


def test_parquet_source_rejects_undecodable_rows_with_their_id(tmp_path: Path) -> None:
    good = encode_png(np.full((6, 6), 7, np.uint8))
    frame = pd.DataFrame(
        {"id": ["a", "b", "c"], "label": [0, 1, 1], "image": [good, b"garbage", good], "group": ["x", "y", "y"]}
    )
    frame.to_parquet(tmp_path / "t.parquet")
    loaded = load_source(f"parquet:{tmp_path / 't.parquet'}", size=6, channels=1, resize="stretch")
    assert loaded.ids == ["a", "c"] and loaded.metadata["group"] == ["x", "y"]
    assert loaded.rejected == [("b", "not a readable image")]


@pytest.mark.parametrize("spec", ["mnist", "builtin:", "http://x", "folder"])
def test_unknown_source_lists_the_allowed_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match="allowed: builtin:mnist5k, builtin:digits, idx:DIR"):
        parse_source(spec)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10  # stored 4 high, 6 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    _save(Image.fromarray(stored), tmp_path / "0" / "photo.png", exif=exif)
    _save(Image.fromarray(stored), tmp_path / "0" / "plain.png")
    loaded = load_source(f"folder:{tmp_path}", size=6, channels=1, resize="pad")
    by_id = dict(zip(loaded.ids, range(2), strict=True))
    assert loaded.orig_sizes[by_id["0/photo.png"]] == (6, 4)  # height and width as displayed
    upright = np.rot90(stored, k=-1)  # (6, 4): clockwise
    assert np.array_equal(loaded.images[by_id["0/photo.png"], :, 1:5, 0], upright)


def test_multi_frame_images_are_refused_not_cut_to_their_first_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 200)]
    _save(frames[0], tmp_path / "0" / "anim.gif", save_all=True, append_images=frames[1:])
    _save(frames[0], tmp_path / "0" / "pages.tif", save_all=True, append_images=frames[1:])
    _save(frames[0], tmp_path / "0" / "apng.png", save_all=True, append_images=frames[1:])
    _save(frames[0], tmp_path / "0" / "one.gif")
    loaded = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert loaded.ids == ["0/one.gif"]
    reasons = dict(loaded.rejected)
    assert reasons["0/anim.gif"].startswith("multi-frame image (2 frames: animated or multi-page GIF)")
    assert reasons["0/pages.tif"].startswith("multi-frame image (2 frames: animated or multi-page TIFF)")
    assert reasons["0/apng.png"].startswith("multi-frame image (2 frames")


def test_32_bit_tiff_is_scaled_as_16_bit_and_refused_past_65535_never_clipped(tmp_path: Path) -> None:
    _save(Image.fromarray(np.full((4, 4), 257 * 100, np.int32), mode="I"), tmp_path / "0" / "ok.tif")
    _save(Image.fromarray(np.full((4, 4), 70_000, np.int32), mode="I"), tmp_path / "0" / "over.tif")
    _save(Image.fromarray(np.full((4, 4), -3, np.int32), mode="I"), tmp_path / "0" / "negative.tif")
    loaded = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert loaded.ids == ["0/ok.tif"] and loaded.images.max() == 100
    reasons = dict(loaded.rejected)
    assert "32-bit integer pixels span 70000..70000, outside 0..65535; refused, not clipped" in reasons["0/over.tif"]
    assert "span -3..-3" in reasons["0/negative.tif"]


def test_hidden_and_system_folders_never_shift_the_numeric_classes(tmp_path: Path) -> None:
    for name in ("0", "1", "2", "3", ".ipynb_checkpoints", "__MACOSX"):
        _save(Image.fromarray(np.full((4, 4), 50, np.uint8)), tmp_path / name / "a.png")
    (tmp_path / "1" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    loaded = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert dict(zip(loaded.ids, loaded.labels.tolist(), strict=True)) == {
        "0/a.png": 0,
        "1/a.png": 1,
        "2/a.png": 2,
        "3/a.png": 3,
    }
    assert loaded.n_inputs == 4 and loaded.rejected == []
    assert loaded.notes == [f"folder:{tmp_path}: 3 hidden or system entries (.*, __MACOSX) skipped"]


def test_adding_a_named_folder_never_renumbers_the_pinned_ones(tmp_path: Path) -> None:
    for name in ("cat", "dog"):
        _save(Image.fromarray(np.full((4, 4), 50, np.uint8)), tmp_path / name / "a.png")
    first = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    pinned = {name: info.label for name, info in first.classes.items()}
    assert pinned == {"cat": 0, "dog": 1}
    _save(Image.fromarray(np.full((4, 4), 50, np.uint8)), tmp_path / "aardvark" / "a.png")  # sorts first
    unpinned = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert unpinned.classes["aardvark"].label == 0  # the documented hazard of unpinned names
    again = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch", class_map=pinned)
    assert {n: c.label for n, c in again.classes.items()} == {"cat": 0, "dog": 1, "aardvark": 2}


def test_non_utf8_file_names_become_escaped_ids(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(
        os.fsdecode(os.fsencode(tmp_path / "0") + b"/caf\xe9.png"), format="PNG"
    )
    loaded = load_source(f"folder:{tmp_path}", size=4, channels=1, resize="stretch")
    assert loaded.ids == ["0/caf\\xe9.png"]
    loaded.ids[0].encode("utf-8")  # writable to Parquet


def test_npz_integer_and_float_pixels_get_a_stated_white_level_and_bad_rows_are_refused(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 5)).astype(np.int64)  # np.array(...) of 0..255
    np.savez(tmp_path / "ints.npz", images=pixels, labels=np.array([0, 1, 0, 1]))
    loaded = load_source(f"npz:{tmp_path / 'ints.npz'}", size=5, channels=1, resize="stretch")
    assert np.array_equal(loaded.images[:, :, :, 0], pixels.astype(np.uint8))  # white 255, not int64's max
    floats = np.random.default_rng(1).random((4, 5, 5)) * 255
    floats[3, 0, 0] = -0.5
    np.savez(tmp_path / "floats.npz", images=floats, labels=np.array([0, 1, 0, 1]))
    loaded = load_source(f"npz:{tmp_path / 'floats.npz'}", size=5, channels=1, resize="stretch")
    assert loaded.notes == [
        f"npz:{tmp_path / 'floats.npz'}: float pixels above 1.0 (max {floats.max():g}): read on the 0-255 scale"
    ]
    assert loaded.rejected == [("floats-000003", f"pixel values span -0.5..{floats[3].max():g}, outside 0..255")]


def test_parquet_string_labels_map_to_classes_and_bad_rows_carry_reasons(tmp_path: Path) -> None:
    good = encode_png(np.full((6, 6), 7, np.uint8))
    frame = pd.DataFrame({"id": ["a", "b", None, "d"], "label": ["cat", None, "dog", "dog"], "image": [good] * 4})
    frame.to_parquet(tmp_path / "t.parquet")
    loaded = load_source(
        f"parquet:{tmp_path / 't.parquet'}", size=6, channels=1, resize="stretch", class_map={"dog": 5}
    )
    assert loaded.ids == ["a", "d"] and loaded.labels.tolist() == [6, 5]
    no_id = "id is missing (null, empty or not a string or integer)"
    assert dict(loaded.rejected) == {"b": "label is NaN (missing)", "row 2": no_id}


def test_an_idx_file_linking_out_of_its_directory_is_refused(tmp_path: Path) -> None:
    outside, source = tmp_path / "elsewhere", tmp_path / "idx"
    outside.mkdir()
    source.mkdir()
    write_idx(outside / "train-images-idx3-ubyte", np.zeros((2, 4, 4)), gz=False)
    (source / "train-images-idx3-ubyte").symlink_to(outside / "train-images-idx3-ubyte")
    write_idx(source / "train-labels-idx1-ubyte", np.array([0, 1]), gz=False)
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte is a link leading outside the directory"):
        load_source(f"idx:{source}", **SIZE)


def _source_files(tmp_path: Path) -> dict[str, str]:
    """One dataset of 30 RGB 12x12 images (labels i % 3) as every file kind a source reads."""
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (30, 12, 12, 3), dtype=np.uint8)
    labels = np.arange(30) % 3
    np.savez(tmp_path / "d.npz", images=images, labels=labels, site=np.array(list("ab") * 15))
    pd.DataFrame(
        {"id": [f"p{i}" for i in range(30)], "label": labels, "image": [encode_png(x) for x in images]}
    ).to_parquet(tmp_path / "d.parquet", row_group_size=4)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (tmp_path / "folder" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "folder" / str(label) / f"{i:02d}.png")
    (tmp_path / "idx").mkdir()
    gray = images.mean(axis=3).astype(np.uint8)
    write_idx(tmp_path / "idx" / "train-images-idx3-ubyte", gray, gz=True)
    write_idx(tmp_path / "idx" / "train-labels-idx1-ubyte", labels, gz=True)
    return {
        "npz": f"npz:{tmp_path / 'd.npz'}",
        "parquet": f"parquet:{tmp_path / 'd.parquet'}",
        "folder": f"folder:{tmp_path / 'folder'}",
        "idx": f"idx:{tmp_path / 'idx'}",
    }


# Rows per batch at batch_bytes=960: arrays are read in chunks of raw rows (12x12x3 = 432 bytes, the larger of
# raw and standardised); encoded files are decoded one at a time, so only their standardised 8x8x3 rows count.
BATCH_ROWS = {"npz": 2, "idx": 960 // (12 * 12), "parquet": 5, "folder": 5}


@pytest.mark.parametrize("kind", sorted(BATCH_ROWS))
def test_a_source_streams_batches_bounded_by_batch_bytes_and_the_same_rows(tmp_path: Path, kind: str) -> None:
    spec = _source_files(tmp_path)[kind]
    channels = 1 if kind == "idx" else 3
    stream = open_source(spec, size=8, channels=channels, resize="stretch", batch_bytes=960)
    batches = list(stream)
    sizes = [len(b.images) for b in batches]
    assert max(sizes) == BATCH_ROWS[kind] and len(batches) >= 30 // BATCH_ROWS[kind]  # never the whole set at once
    assert stream.rows == 30 and stream.n_inputs == 30 and stream.rejected == []
    whole = load_source(spec, size=8, channels=channels, resize="stretch")  # default batch: the whole set at once
    assert np.array_equal(np.concatenate([b.images for b in batches]), whole.images)
    assert [i for b in batches for i in b.ids] == whole.ids
    assert stream.labels.tolist() == whole.labels.tolist()
    assert stream.finish() == whole.classes


def test_a_truncated_or_overlong_idx_is_refused_before_any_row_is_streamed(tmp_path: Path) -> None:
    images = np.zeros((10, 4, 4), np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, gz=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(10), gz=False)
    data = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data[:-20]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: truncated: its header declares 160 bytes"):
        open_source(f"idx:{tmp_path}", size=4, channels=1, resize="stretch", batch_bytes=16 * 3)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data + b"\0"))
    with pytest.raises(DataError, match="holds more data than its header declares"):
        open_source(f"idx:{tmp_path}", size=4, channels=1, resize="stretch", batch_bytes=16 * 3)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    assert len(list(open_source(f"idx:{tmp_path}", size=4, channels=1, resize="stretch", batch_bytes=16 * 3))) == 4


def test_npz_images_in_fortran_order_or_big_endian_stream_like_c_order(tmp_path: Path) -> None:
    images = np.random.default_rng(6).integers(0, 60000, (9, 5, 5)).astype(">u2")
    np.savez(tmp_path / "c.npz", images=images, labels=np.arange(9) % 2)
    np.savez(tmp_path / "f.npz", images=np.asfortranarray(images), labels=np.arange(9) % 2)
    loaded = [
        load_source(f"npz:{tmp_path / name}", size=5, channels=1, resize="stretch") for name in ("c.npz", "f.npz")
    ]
    expected = np.rint(images.astype(np.float64) / 257).astype(np.uint8)[:, :, :, None]
    assert np.array_equal(loaded[0].images, expected) and np.array_equal(loaded[1].images, expected)
