"""genqc/evaluation/keys.py: a gate on a key evaluation cannot produce is refused when params load."""

from __future__ import annotations

import pytest

from genqc.config import parse_params
from genqc.errors import ConfigError
from genqc.evaluation.keys import CLASSIFIER, DISTANCE_STEMS, is_metric_key, known_metric_keys, metric_key
from genqc.metrics import registry
from tests.conftest import real_params


def _with(**sections: dict) -> dict:
    params = real_params()
    for name, values in sections.items():
        params[name] = {**params[name], **values}
    return params


def test_the_repository_params_gate_only_known_keys() -> None:
    parse_params(real_params(), "params.yaml")  # no error: every default gate names a produced key


def test_a_misspelt_gate_is_refused_at_load_naming_the_valid_keys() -> None:
    gates = {"max": {**real_params()["gates"]["max"], "fd_clasifier": 1.0}}
    with pytest.raises(ConfigError) as caught:
        parse_params(_with(gates=gates), "params.yaml")
    message = str(caught.value)
    assert message.startswith("params.yaml: gates.max.fd_clasifier: no such metric")
    assert "Valid keys: " in message and "fd_classifier," in message and "\n" not in message


def test_gates_must_follow_the_configured_extractors() -> None:
    # without the classifier, the default gates on classifier metrics cannot be evaluated
    with pytest.raises(ConfigError, match=r"gates\.max\.fd_classifier_ratio, .*no such metric"):
        parse_params(_with(evaluate={"extractors": ["effnet_lite0"], "classifier": False}))
    parse_params(
        _with(
            evaluate={"extractors": ["effnet_lite0"], "classifier": False},
            gates={"max": {"fd_effnet_lite0_ratio": 50.0}, "min": {"precision_effnet_lite0": 0.2}},
        )
    )


def test_reconstruction_keys_need_every_family_to_reconstruct() -> None:
    gates = {"max": {**real_params()["gates"]["max"], "recon_mse": 0.1}}
    with pytest.raises(ConfigError, match=r"gates\.max\.recon_mse: no such metric"):
        parse_params(_with(gates=gates, train={"model": "vae", "models": ["dcgan", "vae"]}))
    parse_params(_with(gates=gates, train={"model": "vae", "models": ["vae"]}))


def test_per_class_and_unverified_keys() -> None:
    assert is_metric_key("fd_classifier_class7", ["effnet_lite0"], classifier=True)
    assert not is_metric_key("fd_classifier_class7", ["effnet_lite0"], classifier=False)
    assert is_metric_key("fid", ["inception"]) and is_metric_key("fd_inception_unverified_ratio", ["inception"])
    assert not is_metric_key("fd_inception_ratio", ["inception"])  # the verified space's FD is `fid`: no ratio
    assert "is_classifier" not in known_metric_keys(["classifier"], classifier=False)


def test_the_key_rule_agrees_with_the_metric_registry() -> None:
    for space in (CLASSIFIER, "effnet_lite0", "inception", "inception_unverified", "features"):
        for stem in (*DISTANCE_STEMS, "is"):
            assert metric_key(stem, space) == registry.metric_key(stem, space)


def test_fd_infinity_keys_follow_evaluate_fd_inf() -> None:
    gates = {"max": {**real_params()["gates"]["max"], "fd_effnet_lite0_inf": 5.0}}
    with pytest.raises(ConfigError, match=r"gates\.max\.fd_effnet_lite0_inf: no such metric"):
        parse_params(_with(gates=gates))  # FD∞ is measured in the classifier space only by default
    parse_params(_with(gates=gates, evaluate={"fd_inf": ["classifier", "effnet_lite0"]}))
    keys = known_metric_keys(["classifier", "effnet_lite0"])
    assert "fd_classifier_inf" in keys and "fd_effnet_lite0_inf" not in keys
    assert {"memorization_shifted_near_copy_share", "memorization_ct", "memorization_authenticity"} <= set(keys)
