"""The metric registry and ``compute``: key scheme, shared extraction, parity with the metric functions."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

from genqc.features.base import FeatureExtractor, rgb_unit
from genqc.metrics import registry
from genqc.metrics.bootstrap import bootstrap_ci
from genqc.metrics.fid import fd_from_features
from genqc.metrics.inception_score import inception_score
from genqc.metrics.kid import kid_from_features
from genqc.metrics.prdc import prdc
from genqc.metrics.registry import OUTPUT_BOUNDS, MetricSpec, compute, metric_key, register_metric


class PixelStats(FeatureExtractor):
    """A cheap, deterministic stand-in network: per-channel pixel moments as features, a fixed linear head."""

    name = "pixelstats"
    layer_dims: ClassVar[dict[str, int]] = {"pool": 6, "logits": 4}
    default_layers: ClassVar[dict[str, str]] = {"fd": "pool", "kid": "pool", "prdc": "pool", "is": "logits"}
    input_size = 8
    preprocessing = "rgb|no-resize"

    def __init__(self, *, name: str = "pixelstats", verified: bool = True) -> None:
        super().__init__()
        self.name, self.verified, self.weights_sha256 = name, verified, "0" * 64
        self.head = torch.nn.Linear(6, 4)
        torch.nn.init.normal_(self.head.weight, generator=torch.Generator().manual_seed(0))
        self.calls = 0

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return rgb_unit(batch)

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        pool = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)  # (B, 3) + (B, 3) -> (B, 6)
        return {"pool": pool, "logits": self.head(pool) * 10}


def _images(n: int, seed: int, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.integers(0, 200, (n, 8, 8, 3)) + shift, 0, 255).astype(np.uint8)


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, (n, d))


def test_key_scheme() -> None:
    assert metric_key("fd", "inception") == "fid"
    assert metric_key("fd", "inception_unverified") == "fd_inception_unverified"
    assert metric_key("fd", "classifier") == "fd_classifier"
    assert metric_key("kid", "effnet_lite0", "_std") == "kid_effnet_lite0_std"
    assert metric_key("precision", "classifier") == "precision_classifier"


def test_compute_equals_each_metric_on_its_own() -> None:
    real, fake = _features(60, 5, 0), _features(50, 5, 1, shift=0.3)
    logits = _features(50, 7, 2)
    out = compute(
        ["fd", "kid", "is", "prdc"],
        real_features=real,
        fake_features={"pool": fake, "logits": logits},
        options={"kid": {"subset_size": 20, "subsets": 10}},
        seed=3,
    )

    assert out["fd_features"] == fd_from_features(real, fake)["fd"]
    kid = kid_from_features(real, fake, subset_size=20, subsets=10, seed=3)
    assert (out["kid_features"], out["kid_features_std"]) == (kid["kid_mean"], kid["kid_std"])
    score = inception_score(logits, splits=10, seed=3)
    assert (out["is_features"], out["is_features_std"]) == (score["is_mean"], score["is_std"])
    expected = prdc(real, fake)
    assert {k: out[f"{k}_features"] for k in expected} == expected
    assert not any(key.endswith("_ci_low") for key in out)


def test_images_are_extracted_once_per_input_and_shared() -> None:
    net = PixelStats()
    real, fake = _images(12, 0), _images(12, 1, shift=40)
    out = compute(
        ["fd", "kid", "is"], real=real, fake=fake, extractor=net, batch_size=5, options={"kid": {"subsets": 5}}
    )
    assert net.calls == 3 + 3  # ceil(12 / 5) batches per input, one pass for both layers
    features = {name: net.extract(x) for name, x in (("real", real), ("fake", fake))}
    assert out["fd_pixelstats"] == fd_from_features(features["real"]["pool"], features["fake"]["pool"])["fd"]
    kid = kid_from_features(features["real"]["pool"], features["fake"]["pool"], subset_size=12, subsets=5, seed=0)
    assert out["kid_pixelstats"] == kid["kid_mean"]
    assert out["is_pixelstats"] == pytest.approx(inception_score(features["fake"]["logits"])["is_mean"], rel=1e-7)


def test_only_the_verified_inception_is_called_fid() -> None:
    real, fake = _images(10, 0), _images(10, 1)
    assert "fid" in compute(["fd"], real=real, fake=fake, extractor=PixelStats(name="inception"))
    unverified = compute(["fd"], real=real, fake=fake, extractor=PixelStats(name="inception", verified=False))
    assert list(unverified) == ["fd_inception_unverified"]


def test_bootstrap_adds_interval_keys_for_headline_outputs() -> None:
    real, fake = _features(40, 3, 0), _features(40, 3, 1, shift=1.0)
    out = compute(
        ["fd", "kid"],
        real_features=real,
        fake_features=fake,
        n_bootstrap=20,
        seed=1,
        options={"kid": {"subset_size": 10, "subsets": 5}},
    )
    assert set(out) == {
        "fd_features",
        "fd_features_ci_low",
        "fd_features_ci_high",
        "fd_features_se",
        "kid_features",
        "kid_features_std",
        "kid_features_ci_low",
        "kid_features_ci_high",
        "kid_features_se",
    }
    assert out["fd_features_ci_low"] <= out["fd_features_ci_high"] and out["fd_features_se"] > 0
    again = compute(["fd"], real_features=real, fake_features=fake, n_bootstrap=20, seed=1)
    assert again["fd_features_ci_low"] == out["fd_features_ci_low"]  # seeded


def test_user_errors_are_named() -> None:
    real, fake = _features(10, 3, 0), _features(10, 3, 1)
    with pytest.raises(ValueError, match=r"unknown metric 'lpips'; valid: fd, fd_inf, is, kid, prdc"):
        compute(["lpips"], real_features=real, fake_features=fake)
    with pytest.raises(ValueError, match="metric 'kid' has no option 'size'; options: subset_size, subsets, seed"):
        compute(["kid"], real_features=real, fake_features=fake, options={"kid": {"size": 3}})
    with pytest.raises(ValueError, match=r"either images .* or real_features"):
        compute(["fd"], real=_images(2, 0), fake=_images(2, 1), real_features=real, fake_features=fake)
    with pytest.raises(ValueError, match="metric 'is' needs 'logits' features, which were not given"):
        compute(["is"], real_features=real, fake_features=fake)
    with pytest.raises(ValueError, match="differ in width: 3 vs 4"):
        compute(["fd"], real_features=real, fake_features=_features(10, 4, 1))
    bad = fake.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"fake pool features holds 1 NaN/Inf values \(rows \[4\]"):
        compute(["fd"], real_features=real, fake_features=bad)
    with pytest.raises(ValueError, match="unknown feature extractor 'vgg'"):
        compute(["fd"], real=_images(2, 0), fake=_images(2, 1), extractor="vgg")


def test_registration_checks() -> None:
    spec = registry.get_metric("fd")
    with pytest.raises(ValueError, match="'fd' is already registered"):
        register_metric(spec)
    with pytest.raises(ValueError, match="lowercase snake_case"):
        register_metric(MetricSpec("Bad-Name", spec.fn, "fd", spec.outputs, spec.headline))
    with pytest.raises(TypeError, match="fn must be callable"):
        register_metric(MetricSpec("not_callable", 3, "fd", spec.outputs, spec.headline))
    with pytest.raises(TypeError, match="needs a MetricSpec"):
        register_metric({"name": "dict"})


def test_intervals_equal_bootstrap_ci_on_each_output_alone() -> None:
    real, fake = _features(30, 3, 0), _features(25, 3, 1, shift=0.5)
    logits = _features(25, 5, 2)
    out = compute(
        ["prdc", "is", "fd"], real_features=real, fake_features={"pool": fake, "logits": logits}, n_bootstrap=6, seed=4
    )
    for name in ("precision", "recall", "density", "coverage"):  # four outputs share one set of resamples
        alone = bootstrap_ci(
            lambda r, f: prdc(r, f), real, fake, n_resamples=6, seed=4, key=name, bounds=OUTPUT_BOUNDS[name]
        )
        assert (out[f"{name}_features_ci_low"], out[f"{name}_features_ci_high"]) == (alone["low"], alone["high"])
        assert out[f"{name}_features_se"] == alone["se"]
    alone = bootstrap_ci(
        lambda _r, f: inception_score(f, seed=4),
        logits,
        logits,
        n_resamples=6,
        seed=4,
        key="is_mean",
        bounds=OUTPUT_BOUNDS["is_mean"],
    )
    assert out["is_features_ci_low"] == alone["low"] and out["is_features_se"] == alone["se"]
    alone = bootstrap_ci(
        lambda r, f: fd_from_features(r, f), real, fake, n_resamples=6, seed=4, key="fd", bounds=OUTPUT_BOUNDS["fd"]
    )
    assert out["fd_features_ci_low"] == pytest.approx(alone["low"], rel=1e-9)


def test_compute_refuses_complex_features_and_non_finite_results() -> None:
    rng = np.random.default_rng(11)
    real, fake = rng.standard_normal((40, 4)), rng.standard_normal((40, 4))
    with pytest.raises(ValueError, match="metric 'kid': real pool features are complex"):
        compute(["kid"], real_features=real + 0.5j, fake_features=fake)
    with pytest.raises(ValueError, match="metric 'is': fake logits features are complex"):
        compute(["is"], fake_features={"logits": fake.astype(np.complex64)})
    with pytest.raises(ValueError, match="metric 'kid': output 'kid_mean' is not finite"):
        compute(["kid"], real_features=real * 1e200, fake_features=fake * 1e200, options={"kid": {"subsets": 2}})
    with pytest.raises(ValueError, match="metric 'fd'"):
        compute(["fd"], real_features=real * 1e200, fake_features=fake * 1e200)


def test_compute_checks_every_registered_metric_result_is_finite() -> None:
    """A metric (a user's, or a future bug) that returns NaN is an error naming it, never a null in metrics.json."""
    spec = MetricSpec(
        "nan_probe", lambda real, fake: {"value": float("nan")}, "fd", {"value": ("nan_probe", "")}, ("value",)
    )
    register_metric(spec)
    try:
        with pytest.raises(ValueError, match="metric 'nan_probe': output 'value' is not finite"):
            compute(["nan_probe"], real_features=np.zeros((5, 2)), fake_features=np.ones((5, 2)))
    finally:
        registry._REGISTRY.pop("nan_probe")
