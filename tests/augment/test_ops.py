"""Validation of the op table: its wording is part of the interface (exit 2 messages)."""

from __future__ import annotations

import pytest

from genqc.augment import OP_NAMES, OPS, OpConfig, label_unsafe_ops, validate_ops
from genqc.config import AugmentParams
from genqc.errors import ConfigError


def test_out_of_range_magnitude_names_key_value_and_allowed_range() -> None:
    with pytest.raises(ConfigError) as info:
        validate_ops({"rotate": {"p": 0.5, "magnitude": 500}})
    assert str(info.value) == "augment.ops.rotate.magnitude=500: allowed 0..180 (degrees)"
    assert info.value.exit_code == 2


def test_unknown_op_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"augment\.ops\.shear: unknown op; allowed: hflip, vflip, crop, rotate"):
        validate_ops({"shear": {"p": 0.5, "magnitude": 10}})


def test_every_problem_is_reported_at_once() -> None:
    bad = {"rotate": {"p": 1.5, "magnitude": 10}, "noise": {"p": 0.1, "magnitude": -0.1}, "blur": {"p": 1}}
    with pytest.raises(ConfigError) as info:
        validate_ops(bad, key="params.yaml: augment.ops")
    lines = str(info.value).splitlines()
    assert lines == [
        "params.yaml: augment.ops.rotate.p=1.5: allowed 0..1 (probability per image)",
        "params.yaml: augment.ops.noise.magnitude=-0.1: allowed 0..1 (standard deviation as a fraction of 255)",
        "params.yaml: augment.ops.blur: unknown op; allowed: " + ", ".join(OP_NAMES),
    ]


def test_flips_take_no_magnitude() -> None:
    with pytest.raises(ConfigError, match=r"hflip\.magnitude=1: allowed 0\.\.0 \(unused"):
        validate_ops({"hflip": {"p": 0.5, "magnitude": 1}})


def test_valid_ops_come_back_in_application_order() -> None:
    ops = validate_ops({"cutout": OpConfig(0.1, 0.2), "hflip": {"p": 1.0}, "rotate": {"p": 0.5, "magnitude": 180}})
    assert list(ops) == ["hflip", "rotate", "cutout"]
    assert ops["rotate"] == OpConfig(0.5, 180.0)
    assert label_unsafe_ops(ops) == ["hflip"]


def test_default_params_are_valid_and_label_preserving_for_digits() -> None:
    ops = validate_ops(AugmentParams().ops)
    assert set(ops) == set(OPS)
    assert label_unsafe_ops(ops) == []
