"""The metric registry, the metric key scheme and ``compute``, the one entry point.

A metric is named after the feature space it was measured in, because a number
is only comparable with numbers from the same network, weights and
preprocessing. The key scheme, used verbatim in ``reports/metrics.json``:

- ``<stem>_<space>`` where ``space`` is the extractor's name (``classifier``,
  ``effnet_lite0``, ``inception``), with ``_unverified`` appended when its
  weights are not the ones its name promises (``fd_inception_unverified``), or
  ``features`` for precomputed feature matrices;
- the one exception: the Frechet distance in the space of the official FID
  Inception weights (verified by SHA-256) is ``fid``. Nothing else is ever
  called FID;
- secondary outputs add a suffix after the space: ``kid_effnet_lite0_std``,
  ``is_classifier_std``;
- bootstrap intervals add ``_ci_low``, ``_ci_high`` and ``_se`` to a headline
  key: ``fd_classifier_ci_low``.

Stems: ``fd``, ``kid``, ``is``, ``precision``, ``recall``, ``density``,
``coverage``; ``fd_inf`` (FD extrapolated to infinitely many samples, see
:mod:`genqc.metrics.fd_infinity`) is keyed ``fd_<space>_inf`` (``fid_inf``) with
``fd_<space>_inf_ci_low`` etc. Keys are an interface (dashboards, gates): never rename them.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from genqc.metrics import bootstrap
from genqc.metrics.bootstrap import bootstrap_ci, fd_bootstrap_ci, with_ci
from genqc.metrics.checks import check_real_dtype, check_result
from genqc.metrics.fd_infinity import fd_infinity

if TYPE_CHECKING:
    from genqc.features.base import FeatureExtractor

LOG = logging.getLogger(__name__)

CI_LOW, CI_HIGH, CI_SE = "_ci_low", "_ci_high", "_se"
FEATURES_SPACE = "features"  # the space label of precomputed feature matrices
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

MetricFn = Callable[..., dict[str, float]]


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    ``fn(real, fake, **options)`` returns ``{output: value}`` (``real`` is None when
    ``uses_real`` is false); ``outputs`` maps each output to its key stem and
    suffix; ``headline`` lists the outputs that get bootstrap intervals;
    ``role`` is the metric family an extractor maps to a layer (``fd`` -> ``pool``,
    ``is`` -> ``logits``).
    """

    name: str
    fn: MetricFn
    role: str
    outputs: Mapping[str, tuple[str, str]]
    headline: tuple[str, ...]
    uses_real: bool = True
    options: tuple[str, ...] = ()  # keyword options the metric accepts
    defaults: Mapping[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add a metric; the name must be new and well formed, the spec complete and callable."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register_metric needs a MetricSpec, got {type(spec).__name__}")
    if not _NAME.match(spec.name):
        raise ValueError(f"metric name {spec.name!r} must be lowercase snake_case")
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    if not callable(spec.fn):
        raise TypeError(f"metric {spec.name!r}: fn must be callable, got {type(spec.fn).__name__}")
    missing = [h for h in spec.headline if h not in spec.outputs]
    if missing or not spec.outputs:
        raise ValueError(f"metric {spec.name!r}: headline outputs {missing} are not among its outputs")
    _REGISTRY[spec.name] = spec
    return spec


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_metric(name: str) -> MetricSpec:
    """The spec registered as ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown metric {name!r}; valid: {', '.join(available())}")
    return _REGISTRY[name]


def metric_key(stem: str, space: str, suffix: str = "") -> str:
    """The flat key of one number: ``fd_classifier``, ``kid_effnet_lite0_std``, ``fid`` (see the module doc)."""
    base = "fid" if stem == "fd" and space == "inception" else f"{stem}_{space}"
    return base + suffix


def _call(module: str, function: str) -> Callable[..., Any]:
    """Import a metric function when first used: the registry stays importable without torch or scipy."""
    return getattr(importlib.import_module(f"genqc.metrics.{module}"), function)


# --------------------------------------------------------------------------- built-in metrics
def _fd(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    return _call("fid", "fd_from_features")(real, fake)


def _fd_inf(
    real: np.ndarray, fake: np.ndarray, *, fractions: tuple[float, ...] = (1.0, 0.75, 0.5), reps: int = 2, seed: int = 0
) -> dict[str, float]:
    out = _call("fd_infinity", "fd_infinity")(real, fake, fractions=fractions, reps=reps, n_resamples=0, seed=seed)
    return {"fd_inf": out["fd_inf"]}


def _kid(
    real: np.ndarray, fake: np.ndarray, *, subset_size: int = 1000, subsets: int = 100, seed: int = 0
) -> dict[str, float]:
    size = min(subset_size, len(real), len(fake))
    if size < subset_size:
        LOG.info(
            "KID subsets of %d, not %d <evaluate.kid_subset_size>: only %d real and %d fake samples",
            size,
            subset_size,
            len(real),
            len(fake),
        )
    return _call("kid", "kid_from_features")(real, fake, subset_size=size, subsets=subsets, seed=seed)


def _is(real: np.ndarray | None, fake: np.ndarray, *, splits: int = 10, seed: int = 0) -> dict[str, float]:
    return _call("inception_score", "inception_score")(fake, splits=splits, seed=seed)


def _prdc(real: np.ndarray, fake: np.ndarray, **options: Any) -> dict[str, float]:
    return _call("prdc", "prdc")(real, fake, **options)


register_metric(MetricSpec("fd", _fd, "fd", {"fd": ("fd", "")}, ("fd",)))
register_metric(
    MetricSpec("fd_inf", _fd_inf, "fd", {"fd_inf": ("fd", "_inf")}, ("fd_inf",), options=("fractions", "reps", "seed"))
)
register_metric(
    MetricSpec(
        "kid",
        _kid,
        "kid",
        {"kid_mean": ("kid", ""), "kid_std": ("kid", "_std")},
        ("kid_mean",),
        options=("subset_size", "subsets", "seed"),
    )
)
register_metric(
    MetricSpec(
        "is",
        _is,
        "is",
        {"is_mean": ("is", ""), "is_std": ("is", "_std")},
        ("is_mean",),
        uses_real=False,
        options=("splits", "seed"),
    )
)
register_metric(
    MetricSpec(
        "prdc",
        _prdc,
        "prdc",
        {name: (name, "") for name in ("precision", "recall", "density", "coverage")},
        ("precision", "recall", "density", "coverage"),
        options=("k_prc", "k_dc", "inclusion"),
    )
)


# --------------------------------------------------------------------------- compute
Features = np.ndarray | Mapping[str, np.ndarray]


def _check_features(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) matrix, got shape {array.shape}")
    check_real_dtype(array.dtype, name)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(f"{name} holds {int(bad.sum())} NaN/Inf values (rows {rows[:5].tolist()}...)")
    # Float32 features (every extractor's output) stay float32: each metric decides where it needs
    # float64 (all statistics and decisions are float64), and a 50k x 2048 set is not doubled in memory.
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def _as_layers(features: Features | None, role_layer: str) -> dict[str, np.ndarray]:
    """A plain matrix is the feature layer (``pool``); a dict names its layers."""
    if features is None:
        return {}
    if isinstance(features, Mapping):
        return dict(features)
    return {role_layer: features}


class _SharedResamples:
    """Evaluate a multi-output metric once per bootstrap resample and replay it for its other outputs.

    ``bootstrap_ci`` draws its resamples from one seeded generator, so runs with the
    same seed and sizes see the same resamples in the same order: the first run
    stores every resample's full result and later runs (one per headline output)
    reuse it. Each stored result carries a fingerprint of its resample; a run that
    sees different data recomputes instead of replaying.
    """

    def __init__(self, fn: Callable[[Any, Any], dict[str, float]]) -> None:
        self.fn = fn
        self.results: list[tuple[tuple[float, float], dict[str, float]]] = []
        self.calls = 0

    def __call__(self, real: Any, fake: Any) -> dict[str, float]:
        fingerprint = (float(np.asarray(real, dtype=np.float64).sum()), float(np.asarray(fake).sum()))
        index, self.calls = self.calls, self.calls + 1
        if index < len(self.results) and self.results[index][0] == fingerprint:
            return self.results[index][1]
        out = self.fn(real, fake)
        if index == len(self.results):
            self.results.append((fingerprint, out))
        return out

    def rewind(self) -> None:
        self.calls = 0


# The range of each headline output: intervals are clipped to it (an FD below 0 or a precision above 1 is
# not a value the metric can take).
OUTPUT_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "fd": (0.0, None),
    "is_mean": (1.0, None),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "density": (0.0, None),
    "coverage": (0.0, 1.0),
}


def _intervals(
    spec: MetricSpec,
    real: np.ndarray | None,
    fake: np.ndarray,
    options: dict[str, Any],
    estimates: dict[str, float],
    *,
    n_resamples: int,
    level: float,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Bootstrap interval of every headline output, sharing resamples between the outputs of one metric."""
    if spec.name == "fd":  # the weighted-moments version: no resampled copies, same resamples and numbers
        return {
            "fd": fd_bootstrap_ci(
                real, fake, n_resamples=n_resamples, level=level, seed=seed, estimate=float(estimates["fd"])
            )
        }
    if spec.name == "fd_inf":  # resamples repeat the whole extrapolation (see genqc.metrics.fd_infinity)
        out = fd_infinity(real, fake, n_resamples=n_resamples, level=level, **options)
        ends = (bootstrap.CI_LOW, bootstrap.CI_HIGH, bootstrap.SE)  # the interval dict's keys, not the key suffixes
        return {"fd_inf": {end: out[end] for end in ends}}
    if real is None:  # a fake-only metric: the fake set stands in as "real" so the resamples stay paired
        shared = _SharedResamples(lambda _r, f: spec.fn(None, f, **options))
        real = fake
    else:
        shared = _SharedResamples(lambda r, f: spec.fn(r, f, **options))
    intervals = {}
    for output in spec.headline:
        shared.rewind()
        intervals[output] = bootstrap_ci(
            shared,
            real,
            fake,
            n_resamples=n_resamples,
            level=level,
            seed=seed,
            key=output,
            estimate=float(estimates[output]),
            bounds=OUTPUT_BOUNDS.get(output, (None, None)),
        )
    return intervals


def compute(
    metrics: Sequence[str],
    *,
    real: Any = None,
    fake: Any = None,
    extractor: str | FeatureExtractor | None = None,
    real_features: Features | None = None,
    fake_features: Features | None = None,
    space: str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    n_bootstrap: int = 0,
    ci_level: float = 0.95,
    seed: int = 0,
    batch_size: int = 64,
    device: Any = "cpu",
    cache_dir: Any = None,
    real_hash: str | None = None,
    fake_hash: str | None = None,
    extractor_options: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Compute ``metrics`` between a real and a fake set; return flat keys ready for metrics.json.

    Give images (``real``/``fake``: uint8 (N, H, W, C), lists of (H, W, C), float
    tensors in [-1, 1]) with an ``extractor`` (a registry name, built with
    ``extractor_options``, or a built ``FeatureExtractor``), or precomputed
    ``real_features``/``fake_features`` (an (N, D) matrix, or ``{layer: matrix}``).
    Features are extracted once per (input, layer) and shared by every metric;
    with ``cache_dir`` they go through the content-keyed feature cache
    (``real_hash``/``fake_hash`` may pass a table's data hash to skip hashing pixels).
    ``options`` holds per-metric knobs, e.g. ``{"kid": {"subset_size": 100}}``.
    ``n_bootstrap > 0`` adds ``_ci_low``/``_ci_high``/``_se`` for headline outputs: the
    bootstrap spread of each estimator at these sample sizes (see docs/metrics.md: not a
    confidence interval for the population value of a size-biased metric such as FD).

    Raises ValueError for complex or non-finite features and for any result (value or
    interval end) that is not finite, naming the metric and the output.
    """
    specs = [get_metric(name) for name in dict.fromkeys(metrics)]
    options = {name: dict(values) for name, values in (options or {}).items()}
    for name, values in options.items():
        spec = get_metric(name)
        unknown = sorted(set(values) - set(spec.options))
        if unknown:
            raise ValueError(f"metric {name!r} has no option {unknown[0]!r}; options: {', '.join(spec.options)}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    images_given, features_given = real is not None or fake is not None, fake_features is not None
    if images_given == features_given:
        raise ValueError("give either images (real=, fake=) with an extractor, or real_features= and fake_features=")

    if images_given:
        net = _build(extractor, extractor_options)
        space = space or net.space
        real_layers, fake_layers = _extract_all(
            specs,
            net,
            real,
            fake,
            batch_size=batch_size,
            device=device,
            cache_dir=cache_dir,
            real_hash=real_hash,
            fake_hash=fake_hash,
        )
        layer_of = {spec.name: net.layer_for(spec.role) for spec in specs}
    else:
        space = space or FEATURES_SPACE
        real_layers, fake_layers = _as_layers(real_features, "pool"), _as_layers(fake_features, "pool")
        layer_of = {spec.name: "logits" if spec.role == "is" else "pool" for spec in specs}

    results: dict[str, float] = {}
    for spec in specs:
        layer = layer_of[spec.name]
        if layer not in fake_layers or (spec.uses_real and layer not in real_layers):
            raise ValueError(
                f"metric {spec.name!r} needs {layer!r} features, which were not given "
                f"(have: {', '.join(sorted(fake_layers)) or 'none'})"
            )
        fake_x = _check_features(f"metric {spec.name!r}: fake {layer} features", fake_layers[layer])
        real_x = (
            _check_features(f"metric {spec.name!r}: real {layer} features", real_layers[layer])
            if spec.uses_real
            else None
        )
        if real_x is not None and real_x.shape[1] != fake_x.shape[1]:
            raise ValueError(
                f"real and fake {layer} features differ in width: {real_x.shape[1]} vs "
                f"{fake_x.shape[1]}; both must come from the same extractor and layer"
            )
        knobs = {**spec.defaults, **options.get(spec.name, {})}
        if "seed" in spec.options:
            knobs.setdefault("seed", seed)
        values = check_result(spec.name, spec.fn(real_x, fake_x, **knobs))
        for output, (stem, suffix) in spec.outputs.items():
            results[metric_key(stem, space, suffix)] = float(values[output])
        if n_bootstrap > 0:
            intervals = _intervals(
                spec, real_x, fake_x, knobs, values, n_resamples=n_bootstrap, level=ci_level, seed=seed
            )
            for output, ci in intervals.items():
                check_result(spec.name, {f"{output} interval {end}": value for end, value in ci.items()})
                stem, suffix = spec.outputs[output]
                key = metric_key(stem, space, suffix)
                results.update(with_ci(key, results[key], ci))
    return results


def _build(extractor: Any, extractor_options: Mapping[str, Any] | None) -> FeatureExtractor:
    # Deferred (with extract_cached's import below): the extractors and the cache bring torch, and this registry
    # imports without it (tests/features/test_registry.py).
    from genqc.features import build_extractor
    from genqc.features.base import FeatureExtractor

    if isinstance(extractor, FeatureExtractor):
        return extractor
    if not isinstance(extractor, str):
        raise ValueError("images need an extractor: a registry name (e.g. 'effnet_lite0') or a FeatureExtractor")
    return build_extractor(extractor, **dict(extractor_options or {}))


def _extract_all(
    specs: Sequence[MetricSpec],
    net: FeatureExtractor,
    real: Any,
    fake: Any,
    *,
    batch_size: int,
    device: Any,
    cache_dir: Any,
    real_hash: str | None,
    fake_hash: str | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One pass of the network per input, for every layer any metric needs."""
    from genqc.features.cache import FeatureCache, extract_cached

    fake_needed = sorted({net.layer_for(spec.role) for spec in specs})
    real_needed = sorted({net.layer_for(spec.role) for spec in specs if spec.uses_real})
    if fake is None or (real_needed and real is None):
        raise ValueError("both real and fake images are needed for " + ", ".join(s.name for s in specs))
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    common = {"cache": cache, "batch_size": batch_size, "device": device}
    real_layers = extract_cached(net, real, layers=real_needed, images_hash=real_hash, **common) if real_needed else {}
    fake_layers = extract_cached(net, fake, layers=fake_needed, images_hash=fake_hash, **common)
    return real_layers, fake_layers
