"""Evaluation policy: which reference set, which floor, which threshold makes a mode covered or a sample a copy.

Each rule is a named constant or a small function with its reason, so
``genqc evaluate`` (the stage), ``genqc metrics`` and a user's own script apply
the same rules and get the same numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from genqc.evaluation.errors import EvaluationSettingsError
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.keys import FLOOR, QUALIFIERS, RANK_DEFICIENT, RATIO
from genqc.evaluation.references import (  # noqa: F401 (re-exported)
    FLOOR_SEED_OFFSET,
    TEST_SEED_OFFSET,
    capped_test_set,
    capped_train_set,
    floor_set,
)
from genqc.metrics.bootstrap import kid_bootstrap_ci, with_ci
from genqc.metrics.checks import check_result
from genqc.metrics.copying import DEFAULT_MAX_SHIFT, data_copying_ct, shifted_copies
from genqc.metrics.memorization import MemorizationReport, memorization
from genqc.metrics.modes import MODES_COVERED, MODES_TOTAL, ModeReport, mode_coverage
from genqc.metrics.registry import compute, metric_key

# The floor draws its train images with the next seed after the capped train subset's (FLOOR_SEED_OFFSET),
# and the capped test reference the one after (TEST_SEED_OFFSET; both with the sets in
# genqc.evaluation.references), so the selections are independent draws yet all fixed by the one seed.
# FD∞ extrapolates FD's k/n bias, a law that needs subsets well above the feature dimension: the
# classifier's 128-d space at 1,000 samples (smallest subset 500 > 2 x 128) qualifies; EfficientNet's
# 1,280-d space would need over 5,000 samples per set and costs minutes (genqc.metrics.fd_infinity).
FD_INF_SPACES = ("classifier",)
# KID's bootstrap recomputes KID per resample with this many subsets, not kid_subsets: 100 resamples x 100
# subsets was 655 CPU-s in EfficientNet space (issue 20). Fewer subsets per resample add subset noise to the
# spread, so the interval is, if anything, wider; the spread over subsets is kid_<space>_std.
KID_BOOTSTRAP_SUBSETS = 10
# Shifted copies: translations (and crops) of up to 1/16 of the image side per axis, at least 1 pixel and at
# most 2 (25 searches in pixel space): 2 on 32-px MNIST, 1 on 16-px and 8-px digits, where 2 would leave a
# central window too small to tell distinct digits apart (15% of held-out 8x8 digits matched a train image).
COPY_MAX_SHIFT = DEFAULT_MAX_SHIFT
COPY_SHIFT_SIDE_DIVISOR = 16
# C_T (Meehan et al. 2020): up to 10 k-means cells of the train set, each judged when it holds at least 20
# test images and 20 samples; fewer cells for small sets (about 60 of the smaller set per cell).
CT_CELLS, CT_MIN_CELL = 10, 20
# A class counts as covered when the samples hold at least 1/MODE_SHARE_DIVISOR of its fair share
# (N/K). A quarter tolerates the sampling noise of a balanced model (at N/K = 100, a share below 25 is
# more than 7 standard deviations away), while a class the model nearly dropped, represented by a few
# stray samples, counts as missing. min_count=1 would call one stray sample a covered mode.
MODE_SHARE_DIVISOR = 4
IS_SPLITS = 10  # the Inception Score convention's 10 splits; fewer only for a handful of samples
DISTANCE_METRICS = ("fd", "kid", "prdc")  # the registry metrics measured in every feature space
PRDC_OUTPUTS = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class References:
    """The real sets evaluation compares samples with, besides the test split."""

    train: EvalSet  # the seeded, capped train subset: near copies, class balance, nearest pairs
    floor: EvalSet  # as many train images as there are samples: the train/test floor
    train_hashes: frozenset[str]  # the WHOLE train split's content hashes: exact copies


def reference_sets(train: EvalSet, n_samples: int, *, max_train: int, seed: int) -> References:
    """The capped train subset, the size-matched floor set, and the whole split's hashes.

    FD and KID are biased at finite set sizes, so the floor (test vs train, what a
    perfect model would score) must use as many train images as there are samples:
    a larger floor set would make every model look worse against it. Near copies
    need features, so they use the capped subset; exact copies need only hashes,
    so they are checked against every training image.
    """
    subset = capped_train_set(train, max_train=max_train, seed=seed)
    return References(subset, floor_set(subset, n_samples, seed=seed), frozenset(train.hashes))


def check_settings(
    *,
    n_samples: int,
    n_test: int,
    metrics: Collection[str],
    bootstrap: int,
    ci_level: float,
    n_floor: int | None = None,
    fd_inf: bool = False,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    kid_bootstrap_subsets: int = KID_BOOTSTRAP_SUBSETS,
    k_prc: int = 3,
    k_dc: int = 5,
) -> None:
    """EvaluationSettingsError when the knobs are out of range or the sets too small for them.

    Checked before any metric runs, so that every ValueError a metric raises afterwards is
    about the data (:func:`genqc.evaluation.errors.metric_failures`).
    """
    if bootstrap < 0 or bootstrap == 1:
        raise EvaluationSettingsError(f"bootstrap={bootstrap}: 0 (no intervals) or at least 2 resamples")
    if not 0.0 < ci_level < 1.0:
        raise EvaluationSettingsError(f"ci_level={ci_level}: must be between 0 and 1 (e.g. 0.95)")
    for name, value, least in (
        ("kid_subsets", kid_subsets, 1),
        ("kid_subset_size", kid_subset_size, 2),
        ("kid_bootstrap_subsets", kid_bootstrap_subsets, 1),
        ("k_prc", k_prc, 1),
        ("k_dc", k_dc, 1),
    ):
        if value < least:
            raise EvaluationSettingsError(f"{name}={value}: must be >= {least}")
    sizes = {"samples": n_samples, "real (test) images": n_test, **({"floor train images": n_floor} if n_floor else {})}
    if "prdc" in metrics:
        k = max(k_prc, k_dc)
        small = {role: n for role, n in sizes.items() if n <= k}
        if small:
            role, n = next(iter(small.items()))
            raise EvaluationSettingsError(
                f"precision/recall/density/coverage with k={k} neighbours need more than "
                f"{k} images per set; got {n} {role}"
            )
    if fd_inf and "fd" in metrics and min(sizes.values()) < 4:
        role, n = min(sizes.items(), key=lambda item: item[1])
        raise EvaluationSettingsError(
            f"FD∞ needs at least 4 images per set (its smallest subsets are half the set); got {n} {role}"
        )


def kid_options(n_real: int, n_fake: int, *, subset_size: int, subsets: int) -> dict[str, int]:
    """KID's subsets: ``subsets`` x ``min(subset_size, n_real, n_fake)``; ONE when a subset is the whole sets.

    Subsets as large as both sets are the whole sets, permuted, and the unbiased MMD
    ignores order: one gives the same value, and the bootstrap then costs
    ``bootstrap`` KIDs instead of ``bootstrap x subsets``.
    """
    size = min(subset_size, n_real, n_fake)
    return {"subset_size": size, "subsets": 1 if size >= max(n_real, n_fake) else subsets}


def is_splits(n_samples: int) -> int:
    """IS splits: the convention's 10, or one per sample for fewer than 10 samples."""
    return min(IS_SPLITS, n_samples)


def distance_metrics(
    real: Mapping[str, np.ndarray],
    fake: Mapping[str, np.ndarray],
    *,
    space: str,
    metrics: Collection[str] = DISTANCE_METRICS,
    bootstrap: int = 0,
    ci_level: float = 0.95,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    kid_bootstrap_subsets: int = KID_BOOTSTRAP_SUBSETS,
    k_prc: int = 3,
    k_dc: int = 5,
    seed: int = 0,
    fd_inf: bool = False,
) -> dict[str, Any]:
    """FD (and FD∞ when ``fd_inf``), KID, precision/recall/density/coverage between two feature sets
    ``{layer: (N, D)}``, keyed by ``space``; with FD, ``fd_<space>_rank_deficient`` (bool) says whether
    either set has no more rows than dimensions (a singular covariance)."""
    wanted = [name for name in DISTANCE_METRICS if name in metrics]
    out: dict[str, Any] = {}
    common = {"real_features": real, "fake_features": fake, "space": space, "ci_level": ci_level, "seed": seed}
    if "fd" in wanted:
        out.update(compute(["fd", *(["fd_inf"] if fd_inf else [])], n_bootstrap=bootstrap, **common))
        n_rows, dim = min(len(real["pool"]), len(fake["pool"])), real["pool"].shape[1]
        out[metric_key("fd", space) + RANK_DEFICIENT] = bool(n_rows <= dim)
    if "kid" in wanted:
        kid = kid_options(len(real["pool"]), len(fake["pool"]), subset_size=kid_subset_size, subsets=kid_subsets)
        out.update(compute(["kid"], options={"kid": kid}, **common))
        if bootstrap:
            out.update(
                _kid_interval(
                    real["pool"],
                    fake["pool"],
                    out,
                    space=space,
                    kid=kid,
                    bootstrap=bootstrap,
                    subsets=kid_bootstrap_subsets,
                    ci_level=ci_level,
                    seed=seed,
                )
            )
    if "prdc" in wanted:
        out.update(compute(["prdc"], options={"prdc": {"k_prc": k_prc, "k_dc": k_dc}}, n_bootstrap=bootstrap, **common))
    return out


def _kid_interval(
    real: np.ndarray,
    fake: np.ndarray,
    scores: Mapping[str, Any],
    *,
    space: str,
    kid: Mapping[str, int],
    bootstrap: int,
    subsets: int,
    ci_level: float,
    seed: int,
) -> dict[str, float]:
    """KID's bootstrap interval: each resample (both sets, with replacement) recomputes KID with at most
    ``subsets`` subsets, and the interval is centred on the reported KID (all subsets) as every genqc interval."""
    key = metric_key("kid", space)
    ci = kid_bootstrap_ci(
        real,
        fake,
        subset_size=kid["subset_size"],
        subsets=min(kid["subsets"], subsets),
        n_resamples=bootstrap,
        level=ci_level,
        seed=seed,
        estimate=scores[key],
    )
    check_result("kid", {f"kid_mean interval {end}": value for end, value in ci.items()})
    return with_ci(key, scores[key], ci)


def rank_note(space: str, n_real: int, n_fake: int, dim: int) -> str:
    """The line printed when a space's FD comes from singular covariances (no more images than dimensions)."""
    key = metric_key("fd", space)
    return (
        f"{key}: {n_fake} samples and {n_real} real images for {dim} feature dimensions: the covariances are "
        f"singular ({key}{RANK_DEFICIENT}: true), so {key} is comparable only with FDs at the same sizes; "
        f"use more than {dim} images per set for a full-rank covariance"
    )


def inception_score(logits: np.ndarray, *, space: str, bootstrap: int, ci_level: float, seed: int) -> dict[str, float]:
    """IS of the samples' logits with :func:`is_splits` splits (and its interval when ``bootstrap``)."""
    return compute(
        ["is"],
        fake_features={"logits": logits},
        space=space,
        options={"is": {"splits": is_splits(len(logits))}},
        n_bootstrap=bootstrap,
        ci_level=ci_level,
        seed=seed,
    )


def with_floor(metrics: Mapping[str, Any], floor: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` plus ``<key>_floor`` beside every headline number of ``floor`` (qualifiers and flags dropped)."""
    return {
        **metrics,
        **{k + FLOOR: v for k, v in floor.items() if not k.endswith(QUALIFIERS) and not isinstance(v, bool)},
    }


def add_fd_ratio(metrics: dict[str, Any], space: str) -> None:
    """``fd_<space>_ratio`` = FD over its floor, and its interval: each end of FD's interval over the floor.

    A scale-free number the default gate reads. The floor is one fixed reference
    value, so the ratio's interval is FD's interval divided by it.
    """
    fd, floor = metrics.get(f"fd_{space}"), metrics.get(f"fd_{space}{FLOOR}")
    if fd is None or floor is None:
        return
    key = f"fd_{space}{RATIO}"
    metrics[key] = fd / floor if floor > 0 else float("inf")
    for suffix in ("_ci_low", "_ci_high"):
        if f"fd_{space}{suffix}" in metrics:
            metrics[key + suffix] = metrics[f"fd_{space}{suffix}"] / floor if floor > 0 else float("inf")


def mode_min_count(n_samples: int, num_classes: int) -> int:
    """Samples a class needs to count as covered: 1/MODE_SHARE_DIVISOR of its fair share, at least 1."""
    return max(1, n_samples // (MODE_SHARE_DIVISOR * num_classes))


def class_balance(logits: np.ndarray, train_labels: np.ndarray) -> tuple[dict[str, Any], ModeReport]:
    """Class balance of the classifier's predicted classes against the train labels, and covered modes."""
    k = logits.shape[1]
    report = mode_coverage(logits.argmax(1), train_labels, num_classes=k, min_count=mode_min_count(len(logits), k))
    out: dict[str, Any] = dict(report.summary)
    out["modes_covered_share"] = out[MODES_COVERED] / out[MODES_TOTAL] if out[MODES_TOTAL] else 0.0
    out["modes_missing"] = ",".join(str(c) for c in report.missing)
    return out, report


def copies(
    train_features: np.ndarray, train: EvalSet, features: np.ndarray, images: EvalSet, train_hashes: frozenset[str]
) -> tuple[dict[str, Any], MemorizationReport]:
    """Near copies against the capped train subset (features); ``exact_copy_share`` against the whole split."""
    report = memorization(train_features, features, train_hashes=train.hashes, sample_hashes=images.hashes)
    out: dict[str, Any] = dict(report.summary)
    out["exact_copy_share"] = float(np.mean([h in train_hashes for h in images.hashes]))
    return out, report


def copy_max_shift(side: int) -> int:
    """The largest translation the shifted-copy check tries on images whose shorter side is ``side`` pixels."""
    return max(1, min(COPY_MAX_SHIFT, side // COPY_SHIFT_SIDE_DIVISOR))


def shifted_copy_summary(train: EvalSet, images: EvalSet) -> dict[str, float]:
    """Near copies of the capped train subset's images up to :func:`copy_max_shift` pixels away, in pixel space."""
    pixels = np.asarray(images.pixels)
    shift = copy_max_shift(min(pixels.shape[1:3]))
    return dict(shifted_copies(train.pixels, pixels, max_shift=shift).summary)


def ct_cells(n_test: int, n_samples: int) -> tuple[int, int]:
    """(cells, min_cell_samples) of C_T for these sizes: about 60 of the smaller set per cell, at most
    :data:`CT_CELLS`; one cell (min_cell_samples capped at the smaller set) for a handful of images."""
    smaller = min(n_test, n_samples)
    return max(1, min(CT_CELLS, smaller // (3 * CT_MIN_CELL))), max(1, min(CT_MIN_CELL, smaller))


def data_copying(train: np.ndarray, test: np.ndarray, samples: np.ndarray, *, seed: int) -> tuple[float, float]:
    """C_T of the samples and its floor, in one feature space: ``(memorization_ct, memorization_ct_floor)``.

    The floor is C_T of held-out real images: the test reference split in two seeded halves,
    one standing in for the test images and the other for the samples. Both use the cell
    count the halves allow, so the two numbers are comparable. When the samples sit in no cell
    that also holds enough test images (a collapsed model), C_T falls back to one cell.
    """
    order = np.random.default_rng(seed + TEST_SEED_OFFSET).permutation(len(test))
    half_a, half_b = test[order[: len(test) // 2]], test[order[len(test) // 2 :]]
    cells, least = ct_cells(len(half_a), min(len(half_b), len(samples)))

    def ct(reference: np.ndarray, judged: np.ndarray) -> float:
        try:
            return data_copying_ct(train, reference, judged, cells=cells, min_cell_samples=least, seed=seed)[
                "memorization_ct"
            ]
        except ValueError:
            if cells == 1:
                raise
            return data_copying_ct(train, reference, judged, cells=1, min_cell_samples=least, seed=seed)[
                "memorization_ct"
            ]

    return ct(test, samples), ct(half_a, half_b)
