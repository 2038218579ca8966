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

from genqc.data.split import subset_indices
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.keys import FLOOR, QUALIFIERS, RATIO
from genqc.metrics.memorization import MemorizationReport, memorization
from genqc.metrics.modes import MODES_COVERED, MODES_TOTAL, ModeReport, mode_coverage
from genqc.metrics.registry import compute

# The floor draws its train images with the next seed after the capped train subset's, so the two
# selections are independent draws yet both fixed by the one seed.
FLOOR_SEED_OFFSET = 1
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
    subset = train.subset(subset_indices(len(train), max_train, seed))
    floor = subset.subset(subset_indices(len(subset), n_samples, seed + FLOOR_SEED_OFFSET))
    return References(subset, floor, frozenset(train.hashes))


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
    k_prc: int = 3,
    k_dc: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """FD, KID, precision/recall/density/coverage between two feature sets ``{layer: (N, D)}``, keyed by ``space``."""
    wanted = [name for name in DISTANCE_METRICS if name in metrics]
    if not wanted:
        return {}
    kid = kid_options(len(real["pool"]), len(fake["pool"]), subset_size=kid_subset_size, subsets=kid_subsets)
    options = {"kid": kid, "prdc": {"k_prc": k_prc, "k_dc": k_dc}}
    return compute(
        wanted,
        real_features=real,
        fake_features=fake,
        space=space,
        options={k: v for k, v in options.items() if k in wanted},
        n_bootstrap=bootstrap,
        ci_level=ci_level,
        seed=seed,
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
    """``metrics`` plus ``<key>_floor`` beside every headline key of ``floor`` (its qualifiers are dropped)."""
    return {**metrics, **{k + FLOOR: v for k, v in floor.items() if not k.endswith(QUALIFIERS)}}


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
