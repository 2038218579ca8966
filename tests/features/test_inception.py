"""The FID Inception: pytorch-fid weight layout, SHA-256 verification, labelling, preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genqc.errors import ConfigError
from genqc.features import inception
from genqc.features.base import file_sha256
from genqc.features.inception import FIDInceptionV3, InceptionFID


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file of the pytorch-fid layout from random initialisation (the real one cannot be fetched)."""
    torch.manual_seed(0)
    state = FIDInceptionV3().state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as in the 2019 port
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def unverified(random_weights: Path) -> InceptionFID:
    return InceptionFID(random_weights)


def test_layout_matches_pytorch_fid_keys() -> None:
    keys = FIDInceptionV3().state_dict().keys()
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in keys and "Mixed_6e.branch7x7dbl_5.conv.weight" in keys
    assert "fc.weight" in keys and not any(k.startswith("AuxLogits") for k in keys)
    params = sum(v.numel() for k, v in FIDInceptionV3().state_dict().items() if "num_batches" not in k)
    # the official file is 95,628,359 bytes: 23.9M float32 values plus pickle overhead
    assert 95_000_000 < params * 4 < 95_628_359


def test_random_weights_load_and_are_labelled_unverified(unverified: InceptionFID) -> None:
    out = unverified.extract(np.zeros((2, 20, 20, 1), np.uint8), batch_size=2)
    assert out["pool"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert not unverified.verified and unverified.space == "inception_unverified"


def test_preprocessing_is_pytorch_fids(unverified: InceptionFID) -> None:
    batch = torch.randint(0, 256, (2, 1, 37, 23), dtype=torch.uint8)
    x = batch.float().div(255).expand(-1, 3, -1, -1)
    expected = 2 * torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
    torch.testing.assert_close(unverified.preprocess(batch), expected)


def test_official_hash_makes_it_verified(random_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256", file_sha256(random_weights))
    extractor = InceptionFID(random_weights)
    assert extractor.verified and extractor.space == "inception"


def test_sha_mismatch_is_an_error(random_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not the official FID weights"):
        InceptionFID(random_weights, require_official=True)
    misnamed = tmp_path / inception.FID_WEIGHTS_FILE
    misnamed.write_bytes(random_weights.read_bytes())
    with pytest.raises(ConfigError, match="does not match the hash prefix 6726825d in its name; the file is corrupt"):
        InceptionFID(misnamed)


def test_wrong_layout_is_a_clear_error(tmp_path: Path) -> None:
    torchvision_like = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.startswith("fc.")}
    torchvision_like["fc.weight"] = torch.zeros(1000, 2048)
    torchvision_like["fc.bias"] = torch.zeros(1000)
    torchvision_like["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    path = tmp_path / "inception_v3_google.pth"
    torch.save(torchvision_like, path)
    with pytest.raises(
        ConfigError,
        match=r"pytorch-fid Inception layout.*unexpected AuxLogits.fc.weight; "
        r"fc.weight has shape \(1000, 2048\), expected \(1008, 2048\)",
    ):
        InceptionFID(path)
    path.write_text("not weights")
    with pytest.raises(ConfigError, match="not a readable PyTorch state_dict"):
        InceptionFID(path)
    with pytest.raises(ConfigError, match="file not found"):
        InceptionFID(tmp_path / "absent.pth")


def test_without_a_path_the_download_failure_says_to_pass_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(
        ConfigError,
        match=r"could not be downloaded .* pass its path with "
        r"evaluate.inception_weights \(or --inception-weights\)",
    ):
        InceptionFID(None)
