"""``evaluate``: samples against real images, every metric with its interval and its floor.

The real reference is the test split, capped at ``max_test`` seeded images, so the
cost is set by the knobs, not by the dataset. Every distance is measured twice in
each feature space: the test reference vs the samples (the score) and vs as many
training images (the floor, what a perfect model would reach: ``<key>_floor``).
Scores carry bootstrap intervals; FD∞ (FD without its 1/n bias) is added in the
spaces of ``fd_inf``. With the domain classifier, its logits add the Inception
Score, the class balance of the samples and covered modes; its features add near
copies of training images, the C_T data-copying test, per-class FD (conditional
models) and the nearest pairs. Exact copies are checked against every training
image's hash, and copies shifted or cropped by a few pixels in pixel space. The
rules live in :mod:`genqc.evaluation.policy`; this module applies them in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genqc.evaluation.errors import EvaluationSettingsError, metric_failures
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.keys import FLOOR, QUALIFIERS, RANK_DEFICIENT, SAMPLING_FIELDS
from genqc.evaluation.policy import (
    DISTANCE_METRICS,
    FD_INF_SPACES,
    KID_BOOTSTRAP_SUBSETS,
    PRDC_OUTPUTS,
    References,
    add_fd_ratio,
    capped_test_set,
    check_settings,
    class_balance,
    copies,
    data_copying,
    distance_metrics,
    inception_score,
    rank_note,
    reference_sets,
    shifted_copy_summary,
    with_floor,
)
from genqc.evaluation.references import feature_layers
from genqc.evaluation.result import EvaluationResult
from genqc.features.cache import FeatureCache, extract_cached, load_verified
from genqc.metrics.fid import fd_from_features
from genqc.metrics.reconstruction import reconstruction_metrics
from genqc.metrics.registry import metric_key
from genqc.metrics.spectral import SPECTRAL_DISTANCE, spectral_distance

if TYPE_CHECKING:
    from genqc.features.base import FeatureExtractor

#: (uint8 (B, H, W, C) images, (B,) labels) -> their uint8 reconstructions; see genqc.evaluation.reconstruction
Reconstructor = Callable[[np.ndarray, np.ndarray], np.ndarray]
ALL_METRICS = (*DISTANCE_METRICS, "is")


class _Features:
    """Features of each (extractor, set), extracted once (through the content-keyed cache or store when given).

    Sets are read batch by batch from their tables (never decoded whole for this). The
    floor's features are rows of the capped train subset's whenever those are at hand
    (extracted already, or verified in the cache, as the pipeline's feature store holds
    them): the floor is drawn from that subset, so no real image is extracted twice.
    """

    def __init__(
        self,
        sets: Mapping[str, EvalSet],
        scorer: FeatureExtractor | None,
        *,
        cache: FeatureCache | None,
        batch_size: int,
        device: Any,
    ) -> None:
        self.sets, self.scorer, self.cache = sets, scorer, cache
        self.batch_size, self.device = batch_size, device
        self._done: dict[tuple[int, str], dict[str, np.ndarray]] = {}

    def __call__(self, net: FeatureExtractor, role: str) -> dict[str, np.ndarray]:
        key = (id(net), role)
        if key not in self._done:
            from_train = self._floor_from_train(net) if role == "floor" else None
            self._done[key] = from_train if from_train is not None else self._extract(net, role)
        return self._done[key]

    def _extract(self, net: FeatureExtractor, role: str) -> dict[str, np.ndarray]:
        images = self.sets[role]
        return extract_cached(
            net,
            images,
            layers=feature_layers(net, scorer=net is self.scorer),
            cache=self.cache,
            images_hash=images.data_hash,
            batch_size=self.batch_size,
            device=self.device,
        )

    def _floor_from_train(self, net: FeatureExtractor) -> dict[str, np.ndarray] | None:
        """The floor's rows of the train subset's features, or None when those are neither computed nor stored."""
        if "train" not in self.sets:
            return None
        train = self.sets["train"]
        layers = feature_layers(net, scorer=net is self.scorer)
        known = self._done.get((id(net), "train"))
        if known is None and self.cache is not None:
            found = load_verified(
                net,
                train,
                layers=layers,
                cache=self.cache,
                images_hash=train.data_hash,
                batch_size=self.batch_size,
                device=self.device,
            )
            if len(found) == len(layers):
                known = self._done[(id(net), "train")] = found
        if known is None:
            return None
        position = {digest: row for row, digest in enumerate(train.hashes)}  # equal hashes: equal pixels
        rows = np.array([position[digest] for digest in self.sets["floor"].hashes], dtype=np.int64)
        return {layer: known[layer][rows] for layer in layers}


def evaluate(
    samples: EvalSet,
    test: EvalSet,
    *,
    train: EvalSet | None = None,
    extractors: Sequence[FeatureExtractor] = (),
    classifier: FeatureExtractor | None = None,
    metrics: Collection[str] = ALL_METRICS,
    seed: int = 0,
    bootstrap: int = 100,
    ci_level: float = 0.95,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    kid_bootstrap_subsets: int = KID_BOOTSTRAP_SUBSETS,
    k_prc: int = 3,
    k_dc: int = 5,
    max_train: int = 10000,
    max_test: int = 2000,
    fd_inf: Collection[str] = FD_INF_SPACES,
    nearest: int = 16,
    batch_size: int = 64,
    device: Any = "cpu",
    feature_cache: str | os.PathLike[str] | FeatureCache | None = None,
    reconstruct: Reconstructor | None = None,
    reconstruction_batch_size: int = 256,
    sampling: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Measure ``samples`` against the ``test`` images (and, given ``train``, against the train/test floor).

    ``test`` is capped at ``max_test`` seeded images (:func:`~genqc.evaluation.policy.capped_test_set`).
    ``extractors`` are the feature spaces of the distances (FD, KID, PRDC: those of
    ``metrics``); the spaces named in ``fd_inf`` also get FD∞ with its interval.
    ``kid_bootstrap_subsets`` is KID's subset count inside each bootstrap resample.
    ``classifier`` is the network whose logits give the Inception
    Score; with ``train`` it also gives class balance, copies, C_T, per-class FD and the
    nearest pairs. Without ``train`` only the distances and IS are measured (no
    floors): what ``genqc metrics`` reports. ``reconstruct`` (a VAE's) adds MSE,
    PSNR and SSIM of the test split's reconstructions, ``reconstruction_batch_size``
    images at a time. ``sampling`` (the sample stage's summary) is copied as
    ``sample_<field>``. ``feature_cache`` is a directory (a private content-keyed
    cache, filled as features are extracted) or a :class:`FeatureCache`, such as a
    read-only store that :func:`~genqc.evaluation.references.store_reference_features`
    filled with the real sets' features: verified entries are used, the rest extracted.

    Raises :class:`~genqc.evaluation.errors.EvaluationSettingsError` (a ValueError) for
    knobs out of range or sets too small for them, before any work, and
    :class:`~genqc.evaluation.errors.MetricFailure` (a ValueError and a DataError) naming
    the metric when the data gives no finite number.
    """
    if len(samples) < 2:
        raise EvaluationSettingsError(f"{len(samples)} sample(s): metrics need at least 2")
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise EvaluationSettingsError(f"unknown metric(s) {unknown}; valid: {', '.join(ALL_METRICS)}")
    test = capped_test_set(test, max_test=max_test, seed=seed)
    refs = reference_sets(train, len(samples), max_train=max_train, seed=seed) if train is not None else None
    fd_inf_nets = [net for net in extractors if net.name in fd_inf]
    distance_knobs = {
        "kid_subsets": kid_subsets,
        "kid_subset_size": kid_subset_size,
        "kid_bootstrap_subsets": kid_bootstrap_subsets,
        "k_prc": k_prc,
        "k_dc": k_dc,
    }
    check_settings(
        n_samples=len(samples),
        n_test=len(test),
        n_floor=len(refs.floor) if refs else None,
        metrics=metrics,
        fd_inf=bool(fd_inf_nets),
        bootstrap=bootstrap,
        ci_level=ci_level,
        **distance_knobs,
    )
    with metric_failures():
        return _evaluate(
            samples,
            test,
            refs,
            extractors,
            classifier,
            metrics=metrics,
            fd_inf_nets=fd_inf_nets,
            knobs={"bootstrap": bootstrap, "ci_level": ci_level, "seed": seed},
            distance_knobs=distance_knobs,
            nearest=nearest,
            batch_size=batch_size,
            device=device,
            feature_cache=feature_cache,
            reconstruct=reconstruct,
            reconstruction_batch_size=reconstruction_batch_size,
            sampling=sampling,
        )


def _evaluate(
    samples: EvalSet,
    test: EvalSet,
    refs: References | None,
    extractors: Sequence[FeatureExtractor],
    classifier: FeatureExtractor | None,
    *,
    metrics: Collection[str],
    fd_inf_nets: Sequence[FeatureExtractor],
    knobs: dict[str, Any],
    distance_knobs: dict[str, Any],
    nearest: int,
    batch_size: int,
    device: Any,
    feature_cache: str | os.PathLike[str] | FeatureCache | None,
    reconstruct: Reconstructor | None,
    reconstruction_batch_size: int,
    sampling: Mapping[str, Any] | None,
) -> EvaluationResult:
    """:func:`evaluate` after its checks: the metrics in order."""
    sets = {"samples": samples, "test": test}
    if refs is not None:
        sets.update(train=refs.train, floor=refs.floor)
    # the classifier runs for IS when asked, and always for the full evaluation (class balance, copies)
    scorer = classifier if classifier is not None and (refs is not None or "is" in metrics) else None
    cache = FeatureCache(feature_cache) if isinstance(feature_cache, str | os.PathLike) else feature_cache
    feats = _Features(sets, scorer, cache=cache, batch_size=batch_size, device=device)

    result = EvaluationResult(metrics={})
    out = result.metrics
    out.update(n_samples=len(samples), n_test=len(test), **({"n_train": len(refs.train)} if refs else {}))
    out.update({f"sample_{k}": sampling[k] for k in SAMPLING_FIELDS if sampling and k in sampling})
    nets = list(dict.fromkeys([*extractors, *([scorer] if scorer is not None else [])]))
    for net in nets:
        if any(net is e for e in extractors):
            space = net.space
            with_inf = {"fd_inf": any(net is e for e in fd_inf_nets)}
            real, fake = feats(net, "test"), feats(net, "samples")
            scores = distance_metrics(real, fake, space=space, metrics=metrics, **knobs, **distance_knobs, **with_inf)
            if scores.get(metric_key("fd", space) + RANK_DEFICIENT):
                result.notes.append(rank_note(space, len(real["pool"]), len(fake["pool"]), real["pool"].shape[1]))
            if refs is None:
                out.update(scores)
            else:
                floor = distance_metrics(
                    feats(net, "test"),
                    feats(net, "floor"),
                    space=space,
                    metrics=metrics,
                    **{**knobs, "bootstrap": 0},
                    **distance_knobs,
                    **with_inf,
                )
                out.update(with_floor(scores, floor))
                add_fd_ratio(out, space)
                result.prdc += [
                    {"metric": f"{m}_{space}", "value": scores[f"{m}_{space}"], "floor": floor[f"{m}_{space}"]}
                    for m in PRDC_OUTPUTS
                    if f"{m}_{space}" in scores
                ]
        if net is scorer:
            if refs is None:
                out.update(inception_score(feats(net, "samples")["logits"], space=net.space, **knobs))
            else:
                _classifier_metrics(result, net, feats, samples, test, refs, nearest=nearest, **knobs)
    if refs is not None:
        _spectra(result, samples, test, refs.floor)
        out.update(shifted_copy_summary(refs.train, samples))
        out.update({k + FLOOR: v for k, v in shifted_copy_summary(refs.train, test).items()})
    if reconstruct is not None:
        out.update(_reconstruction(reconstruct, test, reconstruction_batch_size))
    result.floor_size = len(refs.floor) if refs else 0
    result.train_size = len(refs.train) if refs else 0
    return result


def _classifier_metrics(
    result: EvaluationResult,
    net: FeatureExtractor,
    feats: _Features,
    samples: EvalSet,
    test: EvalSet,
    refs: References,
    *,
    nearest: int,
    bootstrap: int,
    ci_level: float,
    seed: int,
) -> None:
    """IS, class balance, copies, per-class FD and the nearest pairs: what the classifier's features give."""
    out = result.metrics
    for role, suffix in (("samples", ""), ("floor", FLOOR)):
        scores = inception_score(
            feats(net, role)["logits"],
            space=net.space,
            bootstrap=bootstrap if not suffix else 0,
            ci_level=ci_level,
            seed=seed,
        )
        out.update({k + suffix: v for k, v in scores.items() if not (suffix and k.endswith(QUALIFIERS))})
    modes, report = class_balance(feats(net, "samples")["logits"], refs.train.labels)
    modes_floor, _ = class_balance(feats(net, "floor")["logits"], refs.train.labels)
    train_pool = feats(net, "train")["pool"]
    memo, detail = copies(train_pool, refs.train, feats(net, "samples")["pool"], samples, refs.train_hashes)
    # held-out real images: how often they look like copies
    memo_floor, _ = copies(train_pool, refs.train, feats(net, "test")["pool"], test, refs.train_hashes)
    for values, suffix in ((modes, ""), (modes_floor, FLOOR), (memo, ""), (memo_floor, FLOOR)):
        out.update({k + suffix: v for k, v in values.items() if not (suffix and isinstance(v, str))})
    ct, ct_floor = data_copying(train_pool, feats(net, "test")["pool"], feats(net, "samples")["pool"], seed=seed)
    out.update({"memorization_ct": ct, "memorization_ct" + FLOOR: ct_floor})
    labels = samples.labels
    if (labels >= 0).any():  # a conditional model: FD of each class against that class's test images
        fake, real = feats(net, "samples")["pool"], feats(net, "test")["pool"]
        for c in np.unique(labels[labels >= 0]):
            fake_c, real_c = fake[labels == c], real[test.labels == c]
            if len(fake_c) >= 2 and len(real_c) >= 2:
                out[f"fd_{net.space}_class{int(c)}"] = fd_from_features(real_c, fake_c)["fd"]
    result.class_histogram = [
        {"class": c, "real": float(r), "generated": float(g)}
        for c, (r, g) in enumerate(zip(report.real_hist, report.sample_hist, strict=True))
    ]
    order = np.argsort(detail.ratio, kind="stable")[:nearest]
    train_rows = detail.nearest_train_index[order]
    result.nearest = pd.DataFrame(
        {
            "sample_id": np.array([samples.ids[i] for i in order], dtype=object),
            "sample_image": np.array([samples.png(i) for i in order], dtype=object),
            "train_id": np.array([refs.train.ids[i] for i in train_rows], dtype=object),
            "train_image": np.array([refs.train.png(i) for i in train_rows], dtype=object),
            "ratio": detail.ratio[order],
            "distance": detail.distance[order],
            "exact_copy": detail.exact_copy[order],
        }
    )


def _spectra(result: EvaluationResult, samples: EvalSet, test: EvalSet, floor: EvalSet) -> None:
    """Spectral distance of the samples (and of the floor's train images) from the test images, and plot rows."""
    report = spectral_distance(test.pixels, samples.pixels)
    floor_report = spectral_distance(test.pixels, floor.pixels)
    result.metrics[SPECTRAL_DISTANCE] = report.summary[SPECTRAL_DISTANCE]
    result.metrics[SPECTRAL_DISTANCE + FLOOR] = floor_report.summary[SPECTRAL_DISTANCE]
    result.spectrum = [
        {"frequency": int(f), "real": float(r), "generated": float(g)}
        for f, r, g in zip(report.radius, report.real_spectrum, report.fake_spectrum, strict=True)
    ]


def _reconstruction(reconstruct: Reconstructor, test: EvalSet, batch_size: int) -> dict[str, float]:
    """MSE/PSNR/SSIM of the test split's reconstructions, ``batch_size`` images per call."""
    if batch_size < 1:
        raise ValueError(f"reconstruction_batch_size must be >= 1, got {batch_size}")
    images = test.pixels
    parts = [
        reconstruct(images[start : start + batch_size], test.labels[start : start + batch_size])
        for start in range(0, len(images), batch_size)
    ]
    return reconstruction_metrics(images, np.concatenate(parts))
