"""Stratified split: deterministic, proportional per class, never empty for a class of two."""

from __future__ import annotations

import numpy as np

from genqc.data.split import stratified_split


def test_split_is_deterministic_and_stratified() -> None:
    labels = np.repeat(np.arange(4), [100, 50, 20, 2])
    first = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(first, stratified_split(labels, 0.2, seed=3))
    assert not np.array_equal(first, stratified_split(labels, 0.2, seed=4))
    for label, expected in [(0, 20), (1, 10), (2, 4), (3, 1)]:
        assert first[labels == label].sum() == expected


def test_split_of_a_class_does_not_depend_on_other_classes() -> None:
    labels = np.array([0] * 30 + [1] * 30)
    shuffled_other = np.array([0] * 30 + [1] * 31)
    a = stratified_split(labels, 0.3, seed=0)[:30]
    b = stratified_split(shuffled_other, 0.3, seed=0)[:30]
    assert np.array_equal(a, b)
