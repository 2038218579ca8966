"""Image sets for ``genqc metrics``: folders (flat or nested), tables and .npz, with rejections reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genqc.data.table import images_to_table
from genqc.errors import ConfigError
from genqc.features.inputs import load_image_set
from genqc.io import write_parquet


def _gray(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)


def test_flat_folder_of_mixed_sizes_and_modes(tmp_path: Path) -> None:
    Image.fromarray(_gray(1, 8)[0, :, :, 0], "L").save(tmp_path / "a.png")
    Image.fromarray(np.zeros((12, 10, 3), np.uint8), "RGB").save(tmp_path / "b.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(tmp_path / "sub" / "c.png")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    loaded = load_image_set(tmp_path, role="real")
    assert isinstance(loaded.images, list) and len(loaded) == 3
    assert [im.shape for im in loaded.images] == [(8, 8, 3), (12, 10, 3), (8, 8, 3)]  # gray replicated with RGB
    assert sorted(name for name, _ in loaded.rejected) == ["broken.png", "notes.txt"]


def test_npz_and_table_give_the_same_pixels(tmp_path: Path) -> None:
    images = _gray(4, 8)
    np.savez(tmp_path / "only.npz", images[:, :, :, 0])  # one unnamed (N, H, W) array
    write_parquet(images_to_table(images, [0] * 4, [f"i{i}" for i in range(4)]), tmp_path / "t.parquet")
    np.testing.assert_array_equal(load_image_set(tmp_path / "only.npz").images, images)
    np.testing.assert_array_equal(load_image_set(tmp_path / "t.parquet").images, images)
    np.savez(tmp_path / "unit.npz", images=images.astype(np.float32) / 255.0)  # floats in [0, 1] round back
    np.testing.assert_array_equal(load_image_set(tmp_path / "unit.npz").images, images)


def test_unusable_inputs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fake path .*missing not found"):
        load_image_set(tmp_path / "missing", role="fake")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.zeros(2))
    with pytest.raises(ConfigError, match=r"needs an array named 'images' \(or a single array\); found \['a', 'b'\]"):
        load_image_set(tmp_path / "two.npz")
    np.savez(tmp_path / "flat.npz", images=np.zeros((2, 16)))
    with pytest.raises(ConfigError, match=r"images must be \(N, H, W\) or \(N, H, W, C\)"):
        load_image_set(tmp_path / "flat.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ConfigError, match=r"unsupported file type \.csv"):
        load_image_set(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("")
    with pytest.raises(ConfigError, match=r"holds no readable images \(1 rejected: unsupported file type .txt;"):
        load_image_set(tmp_path / "empty")
