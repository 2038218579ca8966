"""The metric keys evaluation produces, known before anything runs.

Gates name metric keys. A gate on a key that evaluation cannot produce for the
configured feature spaces and model families would only fail at the very end of
the pipeline, after training and sampling; :func:`is_metric_key` lets params
validation refuse it at load time instead. A test runs ``evaluate`` and checks
that every key it writes is known here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FLOOR = "_floor"  # the train-vs-test reference value of a key: what a perfect model would reach
RATIO = "_ratio"  # a score over its floor
INF = "_inf"  # FD extrapolated to infinitely many samples (FD∞): fd_<space>_inf
RANK_DEFICIENT = "_rank_deficient"  # fd_<space>_rank_deficient: true when a set has no more rows than dimensions
# Suffixes that qualify a key (its interval, spread, or floor) rather than name a number of its own.
QUALIFIERS = ("_ci_low", "_ci_high", "_se", "_std", FLOOR)

DISTANCE_STEMS = ("fd", "kid", "precision", "recall", "density", "coverage")
COUNT_KEYS = ("n_samples", "n_test", "n_train")
SAMPLING_FIELDS = ("acceptance_rate", "accepted", "drawn")  # copied from the sample summary as sample_<field>
# With a train split: the spectrum and translation-robust copies, both in pixel space (no extractor needed).
SPECTRAL_KEYS = ("spectral_distance",)
PIXEL_COPY_KEYS = ("memorization_shifted_near_copy_share", "memorization_shifted_median_ratio")
CLASSIFIER_KEYS = (
    "class_kl",
    "class_tv",
    "modes_covered",
    "modes_total",
    "modes_covered_share",
    "memorization_near_copy_share",
    "memorization_exact_copies",
    "memorization_median_ratio",
    "memorization_min_ratio",
    "memorization_authenticity",
    "memorization_ct",
    "exact_copy_share",
)
RECONSTRUCTION_KEYS = ("recon_mse", "recon_psnr", "recon_ssim")
# Families whose model encodes images, so evaluation also scores reconstructing the test split.
RECONSTRUCTING_FAMILIES = ("vae",)
CLASSIFIER = "classifier"  # the domain classifier's extractor name: its logits give IS, class balance, copies


def metric_key(stem: str, space: str) -> str:
    """``genqc.metrics.registry.metric_key``'s rule, restated so that params validation does not import the metrics
    (tests/evaluation/test_keys.py checks that the two agree): only FD in the verified Inception space is ``fid``."""
    return "fid" if stem == "fd" and space == "inception" else f"{stem}_{space}"


def spaces(extractor: str) -> tuple[str, ...]:
    """The space labels an extractor's keys may carry: its name, or ``<name>_unverified`` for other weights.

    The domain classifier is the pipeline's own network, verified by construction.
    """
    return (extractor,) if extractor == CLASSIFIER else (extractor, f"{extractor}_unverified")


def known_metric_keys(
    extractors: Iterable[str],
    *,
    classifier: bool = True,
    families: Iterable[str] = (),
    fd_inf: Iterable[str] = (CLASSIFIER,),
) -> list[str]:
    """Every gateable key ``evaluate`` produces for these extractors, with the classifier metrics, for EVERY family.

    ``fd_inf`` names the extractors whose space also gets FD∞ (``fd_<space>_inf``).
    Per-class keys ``fd_classifier_class<k>`` (conditional models only) are matched
    by :func:`is_metric_key`, not listed.
    """
    keys = [*COUNT_KEYS, *(f"sample_{f}" for f in SAMPLING_FIELDS), *SPECTRAL_KEYS, *PIXEL_COPY_KEYS]
    with_inf = set(fd_inf)
    for name in dict.fromkeys(extractors):
        for space in spaces(name):
            for stem in DISTANCE_STEMS:
                keys.append(metric_key(stem, space))
            if metric_key("fd", space) == f"fd_{space}":  # the ratio exists where the FD key is fd_<space>
                keys.append(f"fd_{space}{RATIO}")
            if name in with_inf:
                keys.append(metric_key("fd", space) + INF)
    if classifier:
        keys += [metric_key("is", CLASSIFIER), *CLASSIFIER_KEYS]
    family_list = list(families)
    if family_list and all(f in RECONSTRUCTING_FAMILIES for f in family_list):
        keys += RECONSTRUCTION_KEYS
    return sorted(dict.fromkeys(keys))


_PER_CLASS = re.compile(rf"fd_{CLASSIFIER}_class\d+")


def is_metric_key(
    key: str,
    extractors: Iterable[str],
    *,
    classifier: bool = True,
    families: Iterable[str] = (),
    fd_inf: Iterable[str] = (CLASSIFIER,),
) -> bool:
    """Whether evaluation can produce ``key`` (a gateable number) for every one of ``families``."""
    if classifier and _PER_CLASS.fullmatch(key):
        return True
    return key in known_metric_keys(extractors, classifier=classifier, families=families, fd_inf=fd_inf)
