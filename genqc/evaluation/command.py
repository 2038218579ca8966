"""``genqc metrics REAL FAKE``: the metrics on their own, outside the pipeline, through ``genqc.evaluate``.

REAL and FAKE are image folders (flat or with class subfolders), image tables
(.parquet) or .npz files of images; or ``--real-features A.npy --fake-features
B.npy`` give precomputed (N, D) feature matrices. Both go through the evaluate
stage's own code (:func:`genqc.evaluation.evaluate` and its KID subset, IS split
and PRDC rules), so for the same images, extractor, seed and bootstrap count
the numbers equal the stage's. There is no train split here, so no floors and
no copy checks. Prints every metric with its bootstrap interval; ``--json FILE``
writes the same flat keys as ``reports/metrics.json``. A missing, unreadable or
mis-shaped input, or sets too small for the settings, exit 2 naming it; features
that are not real finite numbers, or a metric that gives no finite number, exit 1
(the data failed) naming the metric.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from genqc.errors import ConfigError, DataError
from genqc.evaluation.errors import EvaluationSettingsError, metric_failures
from genqc.evaluation.evaluator import evaluate
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.keys import COUNT_KEYS, RANK_DEFICIENT
from genqc.evaluation.policy import check_settings, distance_metrics, rank_note
from genqc.features import available, build_extractor
from genqc.features.inputs import ImageSet, load_image_set
from genqc.io import print_table, write_json
from genqc.metrics.registry import CI_HIGH, CI_LOW, CI_SE, FEATURES_SPACE

IMAGE_METRICS = ("fd", "kid", "prdc", "is")
FEATURE_METRICS = ("fd", "kid", "prdc")  # IS needs class logits, which a feature matrix does not hold
CI_LEVEL = 0.95  # the level --bootstrap intervals are printed at (the evaluate stage's default ci_level)


def main(args: argparse.Namespace) -> int:
    features_mode = _check_mode(args)
    if args.bootstrap < 0:
        raise ConfigError(f"--bootstrap={args.bootstrap}: must be >= 0 (0 disables the intervals)")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size={args.batch_size}: must be >= 1")
    metrics = _metric_names(args.metrics, FEATURE_METRICS if features_mode else IMAGE_METRICS, features_mode)
    try:
        results, notes = _features_metrics(args, metrics) if features_mode else _image_metrics(args, metrics)
    except EvaluationSettingsError as exc:  # sizes too small for k: fixable by the user
        raise ConfigError(str(exc)) from None

    rows = []
    for key, value in results.items():
        if key.endswith((CI_LOW, CI_HIGH, CI_SE)) or isinstance(value, bool):
            continue
        interval = f"[{results[key + CI_LOW]:.6g}, {results[key + CI_HIGH]:.6g}]" if key + CI_LOW in results else ""
        rows.append((key, f"{value:.6g}", interval))
    level = f"{CI_LEVEL:.0%} bootstrap, {args.bootstrap} resamples" if args.bootstrap else "no intervals"
    print_table(rows, ("metric", "value", f"interval ({level})"))
    for note in notes:
        print(f"NOTE: {note}")
    if args.json:
        write_json(results, args.json)
        print(f"wrote {args.json}")
    return 0


def _features_metrics(args: argparse.Namespace, metrics: list[str]) -> tuple[dict[str, Any], list[str]]:
    real = _load_features(args.real_features, "--real-features")
    fake = _load_features(args.fake_features, "--fake-features")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(
            f"--real-features has {real.shape[1]} columns but --fake-features has {fake.shape[1]}; both must "
            "come from the same extractor and layer"
        )
    print(f"real: {args.real_features} {real.shape}   fake: {args.fake_features} {fake.shape}")
    # evaluate's checks with its defaults for the knobs this command has no flags for (KID subsets, k)
    check_settings(n_samples=len(fake), n_test=len(real), metrics=metrics, bootstrap=args.bootstrap, ci_level=CI_LEVEL)
    with metric_failures():
        results = distance_metrics(
            {"pool": real},
            {"pool": fake},
            space=FEATURES_SPACE,
            metrics=metrics,
            bootstrap=args.bootstrap,
            ci_level=CI_LEVEL,
            seed=args.seed,
        )
    deficient = results.get(f"fd_{FEATURES_SPACE}{RANK_DEFICIENT}")
    return results, [rank_note(FEATURES_SPACE, len(real), len(fake), real.shape[1])] if deficient else []


def _image_metrics(args: argparse.Namespace, metrics: list[str]) -> tuple[dict[str, Any], list[str]]:
    if args.extractor not in available():
        raise ConfigError(f"--extractor={args.extractor!r}: allowed: {', '.join(available())}")
    real_set = load_image_set(args.real, role="real")
    fake_set = load_image_set(args.fake, role="fake")
    for role, loaded in (("real", real_set), ("fake", fake_set)):
        _print_set(role, loaded)
    extractor = _build_extractor(args)
    print(f"extractor: {extractor.identity}")
    distances = [m for m in metrics if m != "is"]
    result = evaluate(
        EvalSet.from_images(fake_set.images),
        EvalSet.from_images(real_set.images),
        extractors=[extractor] if distances else [],
        classifier=extractor if "is" in metrics else None,
        metrics=metrics,
        seed=args.seed,
        bootstrap=args.bootstrap,
        ci_level=CI_LEVEL,
        batch_size=args.batch_size,
        device=args.device,
    )
    # the sizes are printed above
    return {k: v for k, v in result.metrics.items() if k not in COUNT_KEYS}, result.notes


def _check_mode(args: argparse.Namespace) -> bool:
    """True for feature matrices, False for images; both or neither (or half of one) is a usage error."""
    images = [p for p in (args.real, args.fake) if p is not None]
    features = [p for p in (args.real_features, args.fake_features) if p is not None]
    if images and features:
        raise ConfigError("give either REAL FAKE images or --real-features/--fake-features, not both")
    if not images and not features:
        raise ConfigError(
            "nothing to compare: give REAL FAKE (image folders, .parquet tables or .npz files) or "
            "--real-features A.npy --fake-features B.npy"
        )
    if features and len(features) != 2:
        raise ConfigError("--real-features and --fake-features must be given together")
    if images and len(images) != 2:
        raise ConfigError("give both REAL and FAKE image sets (folder, .parquet or .npz)")
    return bool(features)


def _metric_names(text: str | None, default: tuple[str, ...], features_mode: bool) -> list[str]:
    if text is None:
        return list(default)
    names = [name.strip() for name in text.split(",") if name.strip()]
    allowed = FEATURE_METRICS if features_mode else IMAGE_METRICS
    bad = [name for name in names if name not in allowed]
    if bad or not names:
        extra = " (is needs class logits, which feature matrices do not have)" if "is" in bad else ""
        raise ConfigError(f"--metrics={text!r}: allowed: {', '.join(allowed)}{extra}")
    return names


def _load_features(path: str, flag: str) -> np.ndarray:
    """A numeric, finite (N, D) matrix from an .npy file (no pickles; an .npz archive is refused by name)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{flag} {path}: file not found")
    if zipfile.is_zipfile(file):  # np.load would return an archive of arrays, not one matrix
        raise ConfigError(
            f"{flag} {path}: an .npz archive, not one .npy matrix; save the (N, D) features with numpy.save"
        )
    try:
        array = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{flag} {path}: not a readable .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ConfigError(f"{flag} {path}: expected an (N, D) matrix with N >= 2, got shape {array.shape}")
    if array.dtype.kind == "c":  # the data is wrong, not the command: exit 1
        raise DataError(f"{flag} {path}: complex features ({array.dtype}); metrics need real numbers")
    if array.dtype.kind not in "uif":
        raise ConfigError(f"{flag} {path}: expected numbers, got dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))[:5].tolist()
        raise DataError(f"{flag} {path}: {int(bad.sum())} NaN/Inf values (rows {rows}...); fix the features")
    return array.astype(np.float64)


def _print_set(role: str, loaded: ImageSet) -> None:
    images = loaded.images
    shape = images.shape if isinstance(images, np.ndarray) else f"{len(images)} images of mixed sizes"
    print(f"{role}: {loaded.source} {shape}")
    if loaded.rejected:
        print(f"  {len(loaded.rejected)} files skipped:")
        for name, reason in loaded.rejected[:5]:
            print(f"    {name}: {reason}")
        if len(loaded.rejected) > 5:
            print(f"    ... and {len(loaded.rejected) - 5} more")


def _build_extractor(args: argparse.Namespace) -> Any:
    name = args.extractor
    if name == "classifier":
        if not args.classifier:
            raise ConfigError(
                "--extractor classifier needs --classifier CKPT, a checkpoint the classifier stage writes"
            )
        checkpoint = Path(args.classifier)
        if not checkpoint.is_file():
            raise ConfigError(
                f"--classifier {checkpoint}: checkpoint not found; run `genqc classifier` or pass --classifier CKPT"
            )
        return build_extractor(name, checkpoint=checkpoint)
    if name == "inception":
        return build_extractor(name, weights=args.inception_weights)
    return build_extractor(name)
