"""Each extractor: layer shapes, its documented preprocessing, and invariances users rely on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genqc.features import build_extractor
from genqc.features.base import file_sha256
from genqc.features.classifier import luma_uint8
from genqc.models.classifier import Classifier, ClassifierConfig
from genqc.training.checkpoint import save_classifier


def _images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.fixture(scope="module")
def effnet():
    return build_extractor("effnet_lite0")


@pytest.fixture(scope="module")
def classifier_extractor():
    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(num_classes=10, channels=1, image_size=16, width=8)).eval()
    return build_extractor("classifier", model=model), model


def test_effnet_layers_match_the_network_whatever_the_batch_size(effnet) -> None:
    gray = _images(2, 16, 1)
    out = effnet.extract(gray, batch_size=1)
    assert out["pool"].shape == (2, 1280) and out["logits"].shape == (2, 1000)
    assert out["pool"].dtype == np.float32
    # the package network's own forward pass, on the documented preprocessing with gray replicated to RGB
    x = torch.from_numpy(gray).permute(0, 3, 1, 2).float().div(255).expand(-1, 3, -1, -1)
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    with torch.no_grad():
        reference = effnet.net((x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).numpy()  # one batch of 2
    np.testing.assert_allclose(out["logits"], reference, rtol=1e-4, atol=1e-4)
    assert effnet.space == "effnet_lite0"  # the packaged weights' SHA-256 is the known one


def test_effnet_runs_at_most_max_forward_images_per_pass_with_the_same_features(effnet, monkeypatch) -> None:
    images = _images(5, 16, 3, seed=4)
    whole = effnet.extract(images, layers=["pool"], batch_size=5)["pool"]
    passes = []
    forward = effnet.forward_layers
    monkeypatch.setattr(effnet, "forward_layers", lambda x: passes.append(len(x)) or forward(x))
    monkeypatch.setattr(effnet, "max_forward", 2)
    split = effnet.extract(images, layers=["pool"], batch_size=5)["pool"]
    assert passes == [2, 2, 1]  # the activation memory of 2 images, not of the batch
    np.testing.assert_allclose(split, whole, rtol=1e-4, atol=1e-5)
    assert type(effnet).max_forward is not None  # the packaged extractor bounds its passes


def test_mixed_sizes_are_resized_by_the_extractor(effnet) -> None:
    small = _images(1, 10, 3, seed=2)[0]
    large = _images(1, 30, 3, seed=3)[0]
    mixed = effnet.extract([small, large], layers=["pool"], batch_size=2)["pool"]
    alone = effnet.extract(large[None], layers=["pool"])["pool"]
    assert mixed.shape == (2, 1280)
    np.testing.assert_allclose(mixed[1], alone[0], rtol=1e-4, atol=1e-5)


def test_float_tensors_are_rounded_to_uint8_first(classifier_extractor) -> None:
    extractor, _ = classifier_extractor
    images = _images(2, 16, 1, seed=4)
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0 + 1e-3  # tiny offset rounds away
    np.testing.assert_array_equal(extractor.extract(tensor)["pool"], extractor.extract(images)["pool"])


def test_classifier_layers_are_its_features_and_logits(classifier_extractor) -> None:
    extractor, model = classifier_extractor
    images = _images(4, 16, 1, seed=5)
    out = extractor.extract(images, batch_size=3)
    assert out["pool"].shape == (4, 32) and out["logits"].shape == (4, 10)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        np.testing.assert_allclose(out["logits"], model(x).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["pool"], model.features(x).numpy(), rtol=1e-5, atol=1e-5)
    assert extractor.layer_for("is") == "logits" and extractor.layer_for("fd") == "pool"
    assert extractor.space == "classifier"


def test_classifier_turns_rgb_into_pil_luma(classifier_extractor) -> None:
    extractor, _ = classifier_extractor
    rgb = _images(2, 16, 3, seed=6)
    luma = np.stack([np.asarray(Image.fromarray(im, "RGB").convert("L"))[:, :, None] for im in rgb])
    got = luma_uint8(torch.from_numpy(rgb).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(got, luma)
    np.testing.assert_allclose(extractor.extract(rgb)["pool"], extractor.extract(luma)["pool"], rtol=1e-6)


def test_bad_inputs_and_layers_are_named(effnet) -> None:
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, C\)"):
        effnet.extract(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="has no layer 'conv5'; layers: pool, logits"):
        effnet.extract(_images(1, 8, 3), layers=["conv5"])
    with pytest.raises(ValueError, match="no default layer for metric 'lpips'"):
        effnet.layer_for("lpips")
    empty = effnet.extract(np.zeros((0, 8, 8, 3), np.uint8))
    assert empty["pool"].shape == (0, 1280)


def test_classifier_checkpoint_missing_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="run `genqc classifier` first"):
        build_extractor("classifier", checkpoint="nowhere/classifier.pt")


def test_classifier_from_its_checkpoint_file(classifier_extractor, tmp_path) -> None:
    in_memory, model = classifier_extractor
    path = tmp_path / "classifier.pt"
    save_classifier(path, model, metrics={"test_accuracy": 0.1})
    from_file = build_extractor("classifier", checkpoint=path)
    assert from_file.weights_sha256 == file_sha256(path)  # the cache key follows the file's bytes
    images = _images(2, 16, 1, seed=8)
    np.testing.assert_allclose(from_file.extract(images)["logits"], in_memory.extract(images)["logits"], rtol=1e-6)
