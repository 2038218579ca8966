"""Inception Score against a plain NumPy formula (the original OpenAI loop)."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.metrics import IS_MEAN, IS_STD, inception_score


def openai_is(probs, splits):
    scores = []
    n = probs.shape[0]
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = part * (np.log(part) - np.log(py))
        scores.append(np.exp(kl.sum(1).mean()))
    return np.mean(scores), np.std(scores)


def test_matches_reference_from_logits_and_probs():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1000, 10)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std = openai_is(probs, 10)
    out = inception_score(logits, shuffle=False)  # the reference cuts in order
    assert out[IS_MEAN] == pytest.approx(mean, rel=1e-10)
    assert out[IS_STD] == pytest.approx(std, rel=1e-8)
    assert inception_score(probs, from_logits=False, shuffle=False)[IS_MEAN] == pytest.approx(mean, rel=1e-10)
    shuffled = probs[np.random.default_rng(0).permutation(len(probs))]
    assert inception_score(logits)[IS_MEAN] == pytest.approx(openai_is(shuffled, 10)[0], rel=1e-10)


def test_analytic_extremes():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(confident_uniform, from_logits=False, splits=10, shuffle=False)[IS_MEAN] == pytest.approx(
        10.0
    )
    assert inception_score(np.zeros((100, 10)), splits=5)[IS_MEAN] == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(ValueError, match="each row must sum to 1"):
        inception_score(np.ones((20, 3)), from_logits=False)
    with pytest.raises(ValueError, match="logits have 5 samples; this metric needs at least 10"):
        inception_score(np.zeros((5, 3)))


def test_class_sorted_predictions_still_score_high() -> None:
    """Tables sorted by class (MNIST-5k is) must not collapse the score to 1 through in-order splits."""
    logits = np.repeat(np.eye(10) * 20.0, 100, axis=0)  # 1000 confident predictions, sorted by class
    assert inception_score(logits)["is_mean"] == pytest.approx(10.0, rel=0.05)
    assert inception_score(logits, shuffle=False)["is_mean"] == pytest.approx(1.0, rel=1e-3)


def test_complex_logits_are_refused() -> None:
    with pytest.raises(ValueError, match="IS: logits are complex"):
        inception_score(np.ones((20, 3)) + 1j)
