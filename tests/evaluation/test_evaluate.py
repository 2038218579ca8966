"""genqc.evaluate: the evaluation policy on real digits, measured through a real (pixel) feature extractor.

The extractor flattens the pixels: a legitimate feature space whose features a
test can recompute by hand, so each rule (the size-matched floor, exact copies
against the whole train split, the FD-ratio interval, covered modes) is checked
against an independent computation, and planting any of those bugs fails here.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

import genqc
from genqc.data.sources import load_source
from genqc.data.split import stratified_split, subset_indices
from genqc.data.table import images_to_table
from genqc.evaluation import EvalSet
from genqc.evaluation.errors import EvaluationSettingsError, MetricFailure
from genqc.evaluation.policy import (
    FLOOR_SEED_OFFSET,
    MODE_SHARE_DIVISOR,
    TEST_SEED_OFFSET,
    class_balance,
    kid_options,
    mode_min_count,
)
from genqc.features.base import FeatureExtractor
from genqc.metrics.bootstrap import bootstrap_ci
from genqc.metrics.fd_infinity import fd_infinity
from genqc.metrics.fid import fd_from_features
from genqc.metrics.kid import kid_from_features

SEED = 3


class PixelFeatures(FeatureExtractor):
    """Features = the 64 pixels of an 8x8 image scaled to [0, 1]; logits = the same values (64 'classes')."""

    name = "pixels"
    default_layers: ClassVar[dict[str, str]] = {"fd": "pool", "is": "logits"}

    def __init__(self) -> None:
        super().__init__()
        self.layer_dims = {"pool": 64, "logits": 64}
        self.input_size = 8
        self.preprocessing = "uint8/255, flattened"
        self.weights_sha256 = "none"
        self.verified = True

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float() / 255.0

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = x.flatten(1)  # (B, 1, 8, 8) -> (B, 64)
        return {"pool": flat, "logits": flat * 4.0}


@pytest.fixture(scope="module")
def digits() -> dict:
    loaded = load_source("builtin:digits", size=8, channels=1, resize="stretch")
    table = images_to_table(loaded.images, loaded.labels, loaded.ids)
    test_mask = stratified_split(loaded.labels, 0.25, seed=0)
    train, rest = table[~test_mask].reset_index(drop=True), table[test_mask].reset_index(drop=True)
    held_mask = stratified_split(rest["label"].to_numpy(), 0.5, seed=1)
    return {
        "train": EvalSet.from_table(train),
        "test": EvalSet.from_table(rest[~held_mask]),
        "held": EvalSet.from_table(rest[held_mask]),
    }


def _evaluate(digits: dict, samples: EvalSet, **knobs) -> genqc.EvaluationResult:
    net = PixelFeatures()
    settings = {"bootstrap": 20, "kid_subsets": 10, "kid_subset_size": 50, "max_train": 400, "seed": SEED, **knobs}
    return genqc.evaluate(samples, digits["test"], train=digits["train"], extractors=[net], classifier=net, **settings)


def _pixels(images: EvalSet) -> np.ndarray:
    return images.pixels.reshape(len(images), -1).astype(np.float32) / 255.0


def test_the_floor_uses_as_many_train_images_as_there_are_samples(digits: dict) -> None:
    samples = digits["held"].subset(np.arange(150))
    result = _evaluate(digits, samples, max_train=600)
    assert result.floor_size == len(samples) == 150 and result.train_size == 600
    train = _pixels(digits["train"])
    subset = subset_indices(len(train), 600, SEED)  # the documented rule: seeded capped subset, then seed + 1
    floor_rows = subset[subset_indices(600, 150, SEED + FLOOR_SEED_OFFSET)]
    expected = fd_from_features(_pixels(digits["test"]), train[floor_rows])["fd"]
    assert result.metrics["fd_pixels_floor"] == pytest.approx(expected, rel=1e-9)
    # against the whole capped subset the floor is another number: the size matters (FD's bias is 1/n)
    whole = fd_from_features(_pixels(digits["test"]), train[subset])["fd"]
    assert abs(whole - expected) > 1e-3 * expected


def test_exact_copies_are_counted_against_the_whole_train_split(digits: dict) -> None:
    subset = set(subset_indices(len(digits["train"]), 300, SEED).tolist())
    outside = np.array([i for i in range(len(digits["train"])) if i not in subset][:40])
    copies = digits["train"].subset(outside)  # training images the capped subset does not hold
    result = _evaluate(digits, copies, max_train=300)
    assert result.metrics["exact_copy_share"] == 1.0  # the whole split's hashes find every one
    assert result.metrics["memorization_exact_copies"] == 0.0  # the capped subset alone would miss them all
    assert result.metrics["exact_copy_share_floor"] == 0.0  # held-out test images are not copies


def test_the_fd_ratio_carries_fds_interval_divided_by_the_floor(digits: dict) -> None:
    m = _evaluate(digits, digits["held"]).metrics
    floor = m["fd_pixels_floor"]
    assert m["fd_pixels_ratio"] == pytest.approx(m["fd_pixels"] / floor)
    assert m["fd_pixels_ratio_ci_low"] == pytest.approx(m["fd_pixels_ci_low"] / floor)
    assert m["fd_pixels_ratio_ci_high"] == pytest.approx(m["fd_pixels_ci_high"] / floor)
    assert m["fd_pixels_ratio_ci_low"] < m["fd_pixels_ratio"] < m["fd_pixels_ratio_ci_high"]


def test_a_mode_is_covered_from_a_quarter_of_its_fair_share() -> None:
    k, n = 10, 400
    assert MODE_SHARE_DIVISOR == 4 and mode_min_count(n, k) == 10  # fair share 40, a quarter: 10
    train_labels = np.repeat(np.arange(k), 50)
    for count, covered in ((10, True), (9, False)):
        predicted = np.r_[np.full(count, 0), np.repeat(np.arange(1, k), (n - count) // (k - 1) + 1)[: n - count]]
        logits = np.eye(k)[predicted]  # one-hot: the argmax is the predicted class
        summary, report = class_balance(logits, train_labels)
        assert (0 not in report.missing) is covered, count
        assert summary["modes_covered_share"] == (1.0 if covered else 0.9)
    assert mode_min_count(8, 10) == 1  # a handful of samples: one is enough


def test_kid_uses_one_subset_when_a_subset_is_both_whole_sets() -> None:
    assert kid_options(300, 300, subset_size=1000, subsets=100) == {"subset_size": 300, "subsets": 1}
    assert kid_options(300, 200, subset_size=1000, subsets=100) == {"subset_size": 200, "subsets": 100}
    assert kid_options(5000, 5000, subset_size=1000, subsets=50) == {"subset_size": 1000, "subsets": 50}


def test_held_out_images_sit_at_the_floor(digits: dict) -> None:
    result = _evaluate(digits, digits["held"])
    m = result.metrics
    assert m["n_samples"] == len(digits["held"]) and m["n_test"] == len(digits["test"]) and m["n_train"] == 400
    assert 0.5 < m["fd_pixels_ratio"] < 2 and m["exact_copy_share"] == 0.0
    assert len(result.nearest) == 16 and result.nearest["ratio"].is_monotonic_increasing
    assert [row["metric"] for row in result.prdc] == [
        "precision_pixels",
        "recall_pixels",
        "density_pixels",
        "coverage_pixels",
    ]
    assert result.spectrum and result.class_histogram


def test_reconstruction_runs_in_batches_of_the_given_size() -> None:
    loaded = load_source("builtin:digits", size=16, channels=1, resize="stretch")  # SSIM's window needs 11 px
    test = EvalSet.from_images(loaded.images[:100], loaded.labels[:100])
    sizes: list[int] = []

    def identity(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        sizes.append(len(images))
        assert len(labels) == len(images)
        return images

    result = genqc.evaluate(test, test, reconstruct=identity, reconstruction_batch_size=32, metrics=[])
    assert sizes == [32, 32, 32, 4]
    assert result.metrics["recon_mse"] == 0.0 and result.metrics["recon_ssim"] == pytest.approx(1.0)


def test_without_a_train_split_only_distances_and_is_are_measured(digits: dict) -> None:
    net = PixelFeatures()
    result = genqc.evaluate(
        digits["held"], digits["test"], extractors=[net], classifier=net, bootstrap=0, metrics=["kid", "is"]
    )
    assert set(result.metrics) == {"n_samples", "n_test", "kid_pixels", "kid_pixels_std", "is_pixels", "is_pixels_std"}
    with pytest.raises(ValueError, match="at least 2"):
        genqc.evaluate(digits["held"].subset(np.arange(1)), digits["test"], extractors=[net])


def test_the_test_reference_is_a_seeded_capped_subset(digits: dict) -> None:
    samples = digits["held"].subset(np.arange(150))
    capped = _evaluate(digits, samples, max_test=120, bootstrap=0).metrics
    assert capped["n_test"] == 120
    rows = subset_indices(len(digits["test"]), 120, SEED + TEST_SEED_OFFSET)
    expected = fd_from_features(_pixels(digits["test"].subset(rows)), _pixels(samples))["fd"]
    assert capped["fd_pixels"] == pytest.approx(expected, rel=1e-9)
    # a split within the cap is used whole and in order: the same numbers as without a cap
    whole = _evaluate(digits, samples, max_test=len(digits["test"]), bootstrap=0).metrics
    uncapped = _evaluate(digits, samples, max_test=10**9, bootstrap=0).metrics
    assert whole == uncapped and whole["n_test"] == len(digits["test"])


def test_fd_infinity_is_measured_in_the_spaces_named_with_its_floor(digits: dict) -> None:
    samples = digits["held"]
    m = _evaluate(digits, samples, fd_inf=("pixels",)).metrics
    expected = fd_infinity(_pixels(digits["test"]), _pixels(samples), n_resamples=20, seed=SEED)
    assert m["fd_pixels_inf"] == pytest.approx(expected["fd_inf"], rel=1e-9)
    assert m["fd_pixels_inf_ci_low"] == pytest.approx(expected["low"], rel=1e-9)
    assert m["fd_pixels_inf_ci_high"] == pytest.approx(expected["high"], rel=1e-9)
    assert "fd_pixels_inf_floor" in m
    assert "fd_pixels_inf" not in _evaluate(digits, samples, fd_inf=(), bootstrap=0).metrics


def test_kid_reports_its_spread_over_subsets_and_bootstraps_with_fewer(digits: dict) -> None:
    samples = digits["held"].subset(np.arange(150))
    m = _evaluate(digits, samples, kid_subsets=10, kid_subset_size=50, kid_bootstrap_subsets=3).metrics
    real, fake = _pixels(digits["test"]), _pixels(samples)
    full = kid_from_features(real, fake, subset_size=50, subsets=10, seed=SEED)
    assert m["kid_pixels"] == pytest.approx(full["kid_mean"], rel=1e-9)
    assert m["kid_pixels_std"] == pytest.approx(full["kid_std"], rel=1e-9)  # over the 10 subsets

    def three_subsets(r: np.ndarray, f: np.ndarray) -> float:  # float64 products, as the bootstrap's kernel blocks
        return kid_from_features(r, f, subset_size=50, subsets=3, seed=SEED, matmul_dtype="float64")["kid_mean"]

    ci = bootstrap_ci(three_subsets, real, fake, n_resamples=20, seed=SEED, estimate=full["kid_mean"])
    assert m["kid_pixels_ci_low"] == pytest.approx(ci["low"], rel=1e-9)
    assert m["kid_pixels_ci_high"] == pytest.approx(ci["high"], rel=1e-9)


def test_a_singular_covariance_is_flagged_and_explained(digits: dict) -> None:
    few = _evaluate(digits, digits["held"].subset(np.arange(40)), bootstrap=0)
    assert few.metrics["fd_pixels_rank_deficient"] is True
    assert any("40 samples" in note and "64 feature dimensions" in note for note in few.notes)
    enough = _evaluate(digits, digits["held"].subset(np.arange(150)), bootstrap=0)
    assert enough.metrics["fd_pixels_rank_deficient"] is False and not enough.notes


def _shifted(images: np.ndarray) -> np.ndarray:
    out = np.zeros_like(images)
    out[:, :, 1:] = images[:, :, :-1]  # one pixel to the right, the left column zero
    return out


def test_shifted_copies_and_c_t_catch_copies_that_held_out_images_do_not_look_like(digits: dict) -> None:
    train = digits["train"].subset(subset_indices(len(digits["train"]), 400, SEED))  # evaluate's capped subset
    shifted = EvalSet.from_images(_shifted(train.pixels[:150]))
    m = _evaluate(digits, shifted, bootstrap=0).metrics
    assert m["exact_copy_share"] == 0.0  # not one pixel-identical copy ...
    assert m["memorization_shifted_near_copy_share"] == 1.0  # ... yet every one is a shifted training image
    held = _evaluate(digits, digits["held"].subset(np.arange(150)), bootstrap=0).metrics
    assert held["memorization_shifted_near_copy_share"] <= 0.05
    assert held["memorization_shifted_near_copy_share_floor"] <= 0.05  # the test images: the floor
    copies = _evaluate(digits, train.subset(np.arange(150)), bootstrap=0).metrics
    assert copies["memorization_ct"] < -3 < held["memorization_ct"]  # copies sit closer to train than test does
    assert abs(held["memorization_ct_floor"]) < 3


def test_bad_settings_and_bad_data_are_told_apart(digits: dict) -> None:
    with pytest.raises(EvaluationSettingsError, match="k=5 neighbours need more than 5"):
        _evaluate(digits, digits["held"].subset(np.arange(5)))
    with pytest.raises(EvaluationSettingsError, match="bootstrap=1"):
        _evaluate(digits, digits["held"], bootstrap=1)

    class Huge(PixelFeatures):
        def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {k: v.double() * 1e200 for k, v in super().forward_layers(x).items()}

    with pytest.raises(MetricFailure, match=r"metric 'fd'") as caught:
        genqc.evaluate(digits["held"], digits["test"], extractors=[Huge()], bootstrap=0, metrics=["fd"])
    assert caught.value.exit_code == 1 and isinstance(caught.value, ValueError)
