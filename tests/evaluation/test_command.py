"""``genqc metrics`` (genqc/evaluation/command.py): images or feature matrices in, a table and flat JSON out, exit 2
for unusable inputs. That it gives the evaluate stage's numbers is tested in tests/tasks/test_evaluate.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genqc.data.table import images_to_table
from genqc.io import write_parquet
from tests.conftest import run_genqc


def _images(n: int, size: int, channels: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.mark.slow  # two subprocesses that each import torch and run EfficientNet on CPU
def test_images_from_a_folder_a_table_and_npz(tmp_path: Path) -> None:
    # KID only: the Frechet distance in 1280 dimensions costs two 1280x1280 eigendecompositions per
    # evaluation, which is slow on shared CPUs and is tested with precomputed features below.
    folder = tmp_path / "real"
    folder.mkdir()
    for i, size in enumerate((12, 16, 20, 16)):  # mixed sizes: the extractor's resize handles them
        Image.fromarray(_images(1, size, 1, seed=i)[0, :, :, 0], "L").save(folder / f"{i}.png")
    (folder / "readme.txt").write_text("not an image")
    fake = _images(4, 16, 1, seed=7)
    write_parquet(images_to_table(fake, [0] * 4, [f"i{i}" for i in range(4)]), tmp_path / "fake.parquet")
    result = run_genqc(
        "metrics",
        "real",
        "fake.parquet",
        "--metrics",
        "kid",
        "--bootstrap",
        "3",
        "--device",
        "cpu",
        "--json",
        "out/metrics.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "1 files skipped" in result.stdout and "readme.txt: unsupported file type .txt" in result.stdout
    assert "real: folder:real 4 images of mixed sizes" in result.stdout
    assert "extractor: effnet_lite0|weights=57934424" in result.stdout
    table_row = next(line for line in result.stdout.splitlines() if line.startswith("kid_effnet_lite0 "))
    assert "[" in table_row and "]" in table_row
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(saved) == {
        "kid_effnet_lite0",
        "kid_effnet_lite0_std",
        "kid_effnet_lite0_ci_low",
        "kid_effnet_lite0_ci_high",
        "kid_effnet_lite0_se",
    }

    np.savez(tmp_path / "fake.npz", images=fake)  # the same pixels as the table: the same numbers
    again = run_genqc(
        "metrics", "real", "fake.npz", "--metrics", "kid", "--bootstrap", "3", "--json", "again.json", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again.json").read_text()) == saved


def test_precomputed_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(40, 4)))
    np.save(tmp_path / "b.npy", rng.normal(0.5, 1.0, size=(30, 4)).astype(np.float32))
    result = run_genqc(
        "metrics",
        "--real-features",
        "a.npy",
        "--fake-features",
        "b.npy",
        "--bootstrap",
        "5",
        "--json",
        "m.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "m.json").read_text())
    for key in (
        "fd_features",
        "kid_features",
        "precision_features",
        "recall_features",
        "density_features",
        "coverage_features",
    ):
        assert key in saved and f"{key}_ci_low" in saved and key in result.stdout
    assert "interval (95% bootstrap, 5 resamples)" in result.stdout


def _write_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(10, 4)))
    np.save(tmp_path / "wide.npy", rng.normal(size=(10, 5)))
    nan = rng.normal(size=(10, 4))
    nan[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "complex.npy", rng.normal(size=(10, 4)) + 1j)
    np.save(tmp_path / "huge.npy", rng.normal(size=(10, 4)) * 1e200)
    np.save(tmp_path / "few.npy", rng.normal(size=(4, 4)))
    np.savez(tmp_path / "x.npz", images=_images(2, 8, 1, seed=0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to compare: give REAL FAKE"),
        (("x.npz", "x.npz", "--real-features", "a.npy", "--fake-features", "a.npy"), "not both"),
        (("x.npz",), "give both REAL and FAKE"),
        (("--real-features", "a.npy"), "must be given together"),
        (("missing_dir", "x.npz"), "real path missing_dir not found"),
        (("--real-features", "a.npy", "--fake-features", "gone.npy"), "--fake-features gone.npy: file not found"),
        (("--real-features", "a.npy", "--fake-features", "wide.npy"), "has 4 columns but --fake-features has 5"),
        (("--real-features", "a.npy", "--fake-features", "a.npy", "--metrics", "is"), "is needs class logits"),
        (("--real-features", "few.npy", "--fake-features", "a.npy", "--metrics", "prdc"), r"k=5 .*got 4 real"),
        (("x.npz", "x.npz", "--extractor", "vgg"), "--extractor='vgg': allowed: classifier, effnet_lite0"),
        (("x.npz", "x.npz", "--extractor", "classifier", "--classifier", "no.pt"), "--classifier no.pt: checkpoint"),
        (("x.npz", "x.npz", "--extractor", "classifier"), "--extractor classifier needs --classifier CKPT"),
        (("--real-features", "x.npz", "--fake-features", "a.npy"), r"--real-features x.npz: an .npz archive, not"),
        (
            ("x.npz", "x.npz", "--extractor", "inception", "--inception-weights", "no.pth"),
            "--inception-weights.*no.pth.*file not found",
        ),
        (("--real-features", "a.npy", "--fake-features", "a.npy", "--bootstrap", "-1"), "--bootstrap=-1"),
    ],
)
def test_unusable_inputs_exit_2_naming_the_problem(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    _write_features(tmp_path)
    result = run_genqc("metrics", *args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--real-features", "nan.npy", "--fake-features", "a.npy"), r"1 NaN/Inf values \(rows \[3\]"),
        (("--real-features", "complex.npy", "--fake-features", "a.npy"), r"complex features \(complex128\)"),
        (("--real-features", "huge.npy", "--fake-features", "a.npy", "--metrics", "fd"), r"metric 'fd'.*overflows"),
    ],
)
def test_unusable_data_exits_1_naming_the_metric_or_the_values(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    _write_features(tmp_path)
    result = run_genqc("metrics", *args, "--bootstrap", "0", cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr), result.stderr


def test_a_singular_covariance_is_flagged_in_the_json_and_said_in_a_line(tmp_path: Path) -> None:
    _write_features(tmp_path)
    rng = np.random.default_rng(1)
    np.save(tmp_path / "narrow.npy", rng.normal(size=(8, 12)))  # 8 rows for 12 dimensions: singular
    np.save(tmp_path / "narrow_b.npy", rng.normal(size=(9, 12)))
    result = run_genqc(
        "metrics",
        "--real-features",
        "narrow.npy",
        "--fake-features",
        "narrow_b.npy",
        "--metrics",
        "fd",
        "--bootstrap",
        "0",
        "--json",
        "m.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["fd_features_rank_deficient"] is True
    assert "NOTE: fd_features: 9 samples and 8 real images for 12 feature dimensions" in result.stdout
    result = run_genqc(
        "metrics",
        "--real-features",
        "a.npy",
        "--fake-features",
        "a.npy",
        "--metrics",
        "fd",
        "--bootstrap",
        "0",
        "--json",
        "m.json",
        cwd=tmp_path,
    )
    assert json.loads((tmp_path / "m.json").read_text())["fd_features_rank_deficient"] is False  # 10 rows, 4 dims
    assert "NOTE" not in result.stdout
