"""The feature cache: content keys, hits and misses, atomic files, corrupt entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genqc.data.table import images_to_table
from genqc.features import build_extractor
from genqc.features.cache import FeatureCache, data_hash, extract_cached, hash_from_content_hashes


class CountingExtractor:
    """Wraps an extractor and counts network passes, so a hit is seen as 'no extraction'."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.identity = inner.name, inner.identity

    def extract(self, images, **kwargs):
        self.calls += 1
        return self.inner.extract(images, **kwargs)


@pytest.fixture
def extractor() -> CountingExtractor:
    from genqc.models.classifier import Classifier, ClassifierConfig

    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(num_classes=3, channels=1, image_size=8, width=4))
    return CountingExtractor(build_extractor("classifier", model=model))


def _images(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)


def test_hit_after_miss_returns_the_same_features(extractor: CountingExtractor, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    first = extract_cached(extractor, _images(), layers=["pool", "logits"], cache=cache)
    second = extract_cached(extractor, _images(), layers=["pool", "logits"], cache=cache)
    assert extractor.calls == 1 and (cache.misses, cache.hits) == (2, 2)
    for layer in ("pool", "logits"):
        np.testing.assert_array_equal(first[layer], second[layer])
    files = sorted(p.name for p in (tmp_path / "classifier").iterdir())
    assert len(files) == 2 and all(name.endswith(".npy") for name in files)  # no leftover temporary files


def test_changed_pixel_or_weights_is_a_miss(extractor: CountingExtractor, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    changed = _images()
    changed[2, 3, 3, 0] ^= 1  # one pixel, one bit
    extract_cached(extractor, changed, layers=["pool"], cache=cache)
    assert extractor.calls == 2
    with torch.no_grad():
        extractor.inner.net.head.bias.add_(1.0)
    retrained = CountingExtractor(build_extractor("classifier", model=extractor.inner.net))
    assert retrained.identity != extractor.identity
    out = extract_cached(retrained, _images(), layers=["pool"], cache=cache)
    assert retrained.calls == 1 and cache.hits == 0
    np.testing.assert_array_equal(out["pool"], retrained.inner.extract(_images(), layers=["pool"])["pool"])


def test_only_missing_layers_are_computed(extractor: CountingExtractor, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    both = extract_cached(extractor, _images(), layers=["pool", "logits"], cache=cache)
    assert extractor.calls == 2 and cache.hits == 1 and both["logits"].shape == (5, 3)


def test_a_table_and_its_pixels_share_one_data_hash() -> None:
    images = _images()
    table = images_to_table(images, [0] * 5, [f"i{i}" for i in range(5)])
    assert hash_from_content_hashes(table["sha256"]) == data_hash(images)
    assert data_hash(images) != data_hash(images[:4])
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    assert data_hash(tensor) == data_hash(images)


def test_corrupt_entry_is_recomputed(extractor: CountingExtractor, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    (entry,) = (tmp_path / "classifier").iterdir()
    entry.write_bytes(b"truncated")
    out = extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    assert extractor.calls == 2 and out["pool"].shape == (5, 16)
    assert np.load(entry).shape == (5, 16)  # rewritten
