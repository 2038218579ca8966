"""The real reference features store: filled once, read by evaluate without extracting a real image again.

The extractor flattens the pixels (as in test_evaluate.py) and counts every image it
is asked to extract, so "evaluate extracts only the samples" is a count, and its
features do not depend on batch composition, so the numbers with and without the
store must be identical.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

import genqc
from genqc.data.sources import load_source
from genqc.data.split import stratified_split
from genqc.data.table import images_to_table
from genqc.evaluation import EvalSet
from genqc.evaluation.references import capped_test_set, capped_train_set, store_reference_features
from genqc.features.base import FeatureExtractor
from genqc.features.cache import PROBE_ROWS, FeatureCache

SEED = 5
CAPS = {"max_test": 200, "max_train": 500}
KNOBS = {"bootstrap": 10, "kid_subsets": 5, "kid_subset_size": 50, "seed": SEED, **CAPS}


class CountingPixels(FeatureExtractor):
    """Features = an 8x8 image's 64 pixels in [0, 1]; counts the images it extracts."""

    name = "pixels"
    default_layers: ClassVar[dict[str, str]] = {"fd": "pool", "is": "logits"}

    def __init__(self) -> None:
        super().__init__()
        self.layer_dims = {"pool": 64, "logits": 64}
        self.input_size = 8
        self.preprocessing = "uint8/255, flattened"
        self.weights_sha256 = "none"
        self.verified = True
        self.images_seen = 0

    def extract(self, images, **kwargs):  # the real extraction, counted
        self.images_seen += len(images)
        return super().extract(images, **kwargs)

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float() / 255.0

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = x.flatten(1)  # (B, 1, 8, 8) -> (B, 64)
        return {"pool": flat, "logits": flat * 4.0}


@pytest.fixture(scope="module")
def digits() -> dict:
    loaded = load_source("builtin:digits", size=8, channels=1, resize="stretch")
    table = images_to_table(loaded.images, loaded.labels, loaded.ids)
    test_mask = stratified_split(loaded.labels, 0.3, seed=0)
    train, rest = table[~test_mask].reset_index(drop=True), table[test_mask].reset_index(drop=True)
    return {
        "train": EvalSet.from_table(train),
        "test": EvalSet.from_table(rest.iloc[100:]),
        "samples": EvalSet.from_images(EvalSet.from_table(rest.iloc[:100]).pixels),  # unlabelled, as a model's
    }


def _evaluate(digits: dict, net: CountingPixels, cache: FeatureCache | None) -> dict:
    result = genqc.evaluate(
        digits["samples"],
        digits["test"],
        train=digits["train"],
        extractors=[net],
        classifier=net,
        feature_cache=cache,
        **KNOBS,
    )
    return result.metrics


def _fill(store_dir: Path, digits: dict) -> list:
    net = CountingPixels()
    store = FeatureCache(store_dir)
    return store_reference_features(
        digits["test"], digits["train"], store, extractors=[net], classifier=net, seed=SEED, **CAPS
    )


def test_the_store_holds_evaluates_capped_sets_and_a_second_fill_extracts_nothing(tmp_path: Path, digits: dict) -> None:
    first = _fill(tmp_path, digits)
    n_test = len(capped_test_set(digits["test"], max_test=200, seed=SEED))
    n_train = len(capped_train_set(digits["train"], max_train=500, seed=SEED))
    assert (n_test, n_train) == (200, 500) and len(digits["test"]) > 200  # the caps bite
    assert {(s.set_name, s.layer, s.rows, s.dim) for s in first} == {
        (name, layer, rows, 64) for name, rows in (("test", n_test), ("train", n_train)) for layer in ("logits", "pool")
    }
    assert all(s.extracted for s in first) and len(list(tmp_path.rglob("*.npz"))) == 4
    assert not any(s.extracted for s in _fill(tmp_path, digits))  # verified entries are kept
    with pytest.raises(ValueError, match="writable"):
        store_reference_features(
            digits["test"], None, FeatureCache(tmp_path, read_only=True), extractors=[CountingPixels()]
        )


def test_evaluate_with_the_store_extracts_only_the_samples_and_gives_the_same_numbers(
    tmp_path: Path, digits: dict
) -> None:
    direct_net = CountingPixels()
    direct = _evaluate(digits, direct_net, None)
    assert direct_net.images_seen >= len(digits["samples"]) + 200 + 500  # samples, test, train (and the floor)

    _fill(tmp_path, digits)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    net = CountingPixels()
    stored = _evaluate(digits, net, FeatureCache(tmp_path, read_only=True))
    # the samples, plus the few probe rows that verify each stored set (test and train): no real set extracted
    assert net.images_seen == len(digits["samples"]) + 2 * PROBE_ROWS
    assert stored == direct  # the floor's rows of the stored train subset are the floor's own features
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == files  # read-only: nothing written


def test_a_planted_store_entry_is_refused_and_the_result_is_the_same(tmp_path: Path, digits: dict, caplog) -> None:
    direct = _evaluate(digits, CountingPixels(), None)
    _fill(tmp_path, digits)
    # plant: every stored matrix replaced by another set's features of the same shape (its meta left as it was)
    rng = np.random.default_rng(0)
    for path in tmp_path.rglob("*.npz"):
        with np.load(path) as archive:
            features, meta = archive["features"], archive["meta"]
        np.savez(path, features=rng.permutation(features), meta=meta)
    net = CountingPixels()
    with caplog.at_level(logging.WARNING, logger="genqc.features.cache"):
        stored = _evaluate(digits, net, FeatureCache(tmp_path, read_only=True))
    assert "differ from those images' features" in caplog.text
    assert stored == direct
    assert net.images_seen > len(digits["samples"]) + 200  # the refused sets were extracted instead


class CountingHalfPixels(CountingPixels):
    """A second, distance-only space (another name, other features)."""

    name = "half_pixels"

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pool": x.flatten(1) * 0.5, "logits": x.flatten(1)}


def test_a_distance_only_space_stores_just_the_floor_and_evaluate_still_extracts_only_the_samples(
    tmp_path: Path, digits: dict
) -> None:
    scorer, space = CountingPixels(), CountingHalfPixels()
    n = len(digits["samples"])
    stored = store_reference_features(
        digits["test"],
        digits["train"],
        FeatureCache(tmp_path),
        extractors=[space],
        classifier=scorer,
        seed=SEED,
        n_samples=n,
        **CAPS,
    )
    rows = {(s.extractor, s.set_name): s.rows for s in stored}
    # the scorer keeps its whole train subset (copies, class balance); the distance space only the floor's images
    assert rows == {("pixels", "test"): 200, ("pixels", "train"): 500, ("half_pixels", "test"): 200,
                    ("half_pixels", "floor"): n}  # fmt: skip
    assert space.images_seen == 200 + n

    def run(cache: FeatureCache | None, nets: tuple[CountingPixels, CountingPixels]) -> dict:
        return genqc.evaluate(
            digits["samples"],
            digits["test"],
            train=digits["train"],
            extractors=[nets[1], nets[0]],
            classifier=nets[0],
            feature_cache=cache,
            **KNOBS,
        ).metrics

    direct = run(None, (CountingPixels(), CountingHalfPixels()))
    nets = (CountingPixels(), CountingHalfPixels())
    assert run(FeatureCache(tmp_path, read_only=True), nets) == direct
    assert nets[1].images_seen == n + 2 * PROBE_ROWS  # samples, and the probes of the test and floor entries
