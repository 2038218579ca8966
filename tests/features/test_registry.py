"""The extractor registry: names, lazy imports, registration checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genqc.features import available, build_extractor, register_extractor
from genqc.features.effnet import EffNetLite0
from genqc.features.registry import _REGISTRY


def test_builtin_names_are_listed() -> None:
    assert {"classifier", "effnet_lite0", "inception"} <= set(available())


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown feature extractor 'dinov2'; valid: classifier, effnet_lite0"):
        build_extractor("dinov2")


def test_registration_checks_name_type_and_uniqueness() -> None:
    with pytest.raises(ValueError, match="must be lowercase"):
        register_extractor("EffNet")
    with pytest.raises(TypeError, match="must be a FeatureExtractor subclass"):
        register_extractor("plain_object")(object)
    with pytest.raises(ValueError, match="taken by the built-in"):
        register_extractor("inception")(type("Fake", (EffNetLite0,), {}))
    subclass = type("Twin", (EffNetLite0,), {})
    register_extractor("twin_test")(subclass)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_extractor("twin_test")(type("Other", (EffNetLite0,), {}))
    finally:
        _REGISTRY.pop("twin_test")


def test_importing_the_registries_and_the_cache_does_not_import_torch() -> None:
    """`genqc metrics` on NumPy features goes through these modules; it must not pay for torch."""
    code = "import sys, genqc.features, genqc.features.cache, genqc.metrics.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
