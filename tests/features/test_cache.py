"""The feature cache: content keys (pixels, code, weights), verified entries, planted and stale files, atomic files."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genqc.data.table import images_to_table
from genqc.features import build_extractor
from genqc.features.cache import (
    PROBE_ROWS,
    FeatureCache,
    cache_key,
    code_sha256,
    data_hash,
    extract_cached,
    hash_from_content_hashes,
    weights_sha256,
)
from genqc.models.classifier import Classifier, ClassifierConfig


class CountingExtractor:
    """Wraps an extractor and counts full network passes, so a hit is seen as 'no extraction'.

    A hit still re-extracts a few probe rows to verify the entry; ``probe_calls`` counts those.
    """

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.probe_calls = inner, 0, 0
        self.name, self.identity = inner.name, inner.identity

    def extract(self, images, **kwargs):
        if len(images) <= PROBE_ROWS:
            self.probe_calls += 1
        else:
            self.calls += 1
        return self.inner.extract(images, **kwargs)

    def modules(self):  # the cache hashes the code and live weights of what it wraps
        return self.inner.modules()

    def state_dict(self):
        return self.inner.state_dict()


@pytest.fixture
def extractor() -> CountingExtractor:
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
    assert extractor.probe_calls == 1  # one small pass verified both layers' entries
    for layer in ("pool", "logits"):
        np.testing.assert_array_equal(first[layer], second[layer])
    files = sorted(p.name for p in (tmp_path / "classifier").iterdir())
    assert len(files) == 2 and all(name.endswith(".npz") for name in files)  # no leftover temporary files


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
    assert extractor.calls == 2 and out["pool"].shape == (5, 16) and cache.rejected == 1
    with np.load(entry) as archive:
        assert archive["features"].shape == (5, 16)  # rewritten


@pytest.fixture(scope="module")
def digits_and_noise() -> tuple[np.ndarray, np.ndarray]:
    """200 real 8x8 digits (uint8, sklearn) and 200 images of uniform noise."""
    digits = np.rint(load_digits().images[:200] * 255.0 / 16.0).astype(np.uint8)[..., None]  # (200, 8, 8, 1)
    noise = np.random.default_rng(0).integers(0, 256, digits.shape, dtype=np.uint8)
    return digits, noise


def test_planted_entry_is_recomputed_with_a_warning(extractor, digits_and_noise, tmp_path, caplog) -> None:
    """Features of real digits filed under the noise images' key (meta forged too) must never describe the noise."""
    digits, noise = digits_and_noise
    cache = FeatureCache(tmp_path)
    extract_cached(extractor, digits, layers=["pool"], cache=cache)
    (real_entry,) = (tmp_path / "classifier").iterdir()
    noise_hash = data_hash(noise)
    key = cache_key(
        noise_hash, extractor.identity, "pool", code=code_sha256(extractor), weights=weights_sha256(extractor)
    )
    with np.load(real_entry) as archive:
        planted, meta = archive["features"], json.loads(str(archive["meta"]))
    cache.save("classifier", key, planted, {**meta, "data": noise_hash})  # everything right but the features
    with caplog.at_level("WARNING", logger="genqc.features.cache"):
        out = extract_cached(extractor, noise, layers=["pool"], cache=cache)
    assert "differ from those images' features" in caplog.text and cache.rejected == 1
    expected = extractor.inner.extract(noise, layers=["pool"])["pool"]
    np.testing.assert_allclose(out["pool"], expected, rtol=1e-5, atol=1e-6)
    assert np.abs(out["pool"] - planted).max() > 0.3 * np.abs(expected).max()  # the planted matrix was different
    again = extract_cached(extractor, noise, layers=["pool"], cache=cache)  # the rewritten entry now verifies
    np.testing.assert_array_equal(again["pool"], out["pool"])
    assert cache.rejected == 1


def test_weights_changed_in_memory_are_a_new_key(extractor, tmp_path) -> None:
    """The identity string still names the weights it was built with; the live state_dict is what counts."""
    cache = FeatureCache(tmp_path)
    before = extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    identity = extractor.identity
    with torch.no_grad():
        for parameter in extractor.inner.net.parameters():
            parameter.mul_(1.5)
    after = extract_cached(extractor, _images(), layers=["pool"], cache=cache)
    assert extractor.identity == identity and extractor.calls == 2 and cache.hits == 0
    assert not np.allclose(before["pool"], after["pool"])


STALE_MODULE = """
import torch
from genqc.features.classifier import ClassifierFeatures


class EditedFeatures(ClassifierFeatures):
    def forward_layers(self, x):
        pool = self.net.features(x) * {factor}
        return {{"pool": pool, "logits": self.net.head(pool)}}
"""


def test_code_edited_without_a_new_identity_is_a_new_key(tmp_path, monkeypatch) -> None:
    """Stale features of old code are never reused when the extractor's source changes and its identity does not."""
    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(num_classes=3, channels=1, image_size=8, width=4))
    source = tmp_path / "edited_extractor.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    cache = FeatureCache(tmp_path / "cache")
    results, identities = [], []
    for factor in (1.0, 2.0):
        source.write_text(STALE_MODULE.format(factor=factor))
        sys.modules.pop("edited_extractor", None)
        importlib.invalidate_caches()
        module = importlib.import_module("edited_extractor")
        net = module.EditedFeatures(model=model)
        identities.append(net.identity)
        results.append(extract_cached(net, _images(), layers=["pool"], cache=cache)["pool"])
    sys.modules.pop("edited_extractor", None)
    assert identities[0] == identities[1] and cache.hits == 0 and cache.misses == 2
    np.testing.assert_allclose(results[1], 2.0 * results[0], rtol=1e-5)


def test_a_read_only_store_serves_its_entries_and_extracts_the_rest_without_writing(
    extractor: CountingExtractor, tmp_path: Path
) -> None:
    extract_cached(extractor, _images(), layers=["pool"], cache=FeatureCache(tmp_path))
    (entry,) = (tmp_path / "classifier").iterdir()
    before = entry.stat().st_mtime_ns
    store = FeatureCache(tmp_path, read_only=True)
    both = extract_cached(extractor, _images(), layers=["pool", "logits"], cache=store)
    other = extract_cached(extractor, _images(1), layers=["pool"], cache=store)
    assert (
        extractor.calls == 3 and store.hits == 1 and both["logits"].shape == (5, 3) and other["pool"].shape == (5, 16)
    )
    assert list((tmp_path / "classifier").iterdir()) == [entry] and entry.stat().st_mtime_ns == before
    with pytest.raises(PermissionError, match="read-only"):
        store.save("classifier", "key", both["pool"], {})


class LazyRows:
    """Images decoded on demand (as an EvalSet over an image table): records the largest request."""

    def __init__(self, images: np.ndarray) -> None:
        self.images, self.largest = images, 0

    def __len__(self) -> int:
        return len(self.images)

    def rows(self, index: np.ndarray) -> np.ndarray:
        self.largest = max(self.largest, len(index))
        return self.images[index]


def test_lazy_images_are_decoded_one_batch_at_a_time_with_the_same_features(
    extractor: CountingExtractor, tmp_path: Path
) -> None:
    images = np.random.default_rng(2).integers(0, 256, (23, 8, 8, 1), dtype=np.uint8)
    lazy = LazyRows(images)
    cache = FeatureCache(tmp_path)
    assert data_hash(lazy) == data_hash(images)
    lazy.largest = 0
    # keyed by the set's own hashes, as an EvalSet's table gives them: extraction then reads batch by batch
    out = extract_cached(extractor, lazy, layers=["pool"], cache=cache, images_hash=data_hash(images), batch_size=4)
    assert lazy.largest == 4  # never the whole set
    np.testing.assert_allclose(
        out["pool"], extractor.inner.extract(images, layers=["pool"])["pool"], rtol=1e-5, atol=1e-6
    )
    again = extract_cached(extractor, lazy, layers=["pool"], cache=cache, batch_size=4)  # a hit: probes via rows()
    assert extractor.calls == 1 and cache.hits == 1
    np.testing.assert_array_equal(again["pool"], out["pool"])
