"""builtin:shapes, the offline RGB dataset: reproducible, balanced, distinct images, streamed in any batches."""

from __future__ import annotations

import numpy as np

from genqc.data.shapes import SHAPE_CLASSES, draw_shape, iter_shapes, shapes_dataset
from genqc.data.sources import load_source
from genqc.data.table import content_hash


def test_images_depend_on_seed_and_index_only_whatever_the_batching() -> None:
    whole = np.concatenate([b for b, _ in iter_shapes(40, seed=3, batch_size=40)])
    pieces = np.concatenate([b for b, _ in iter_shapes(40, seed=3, batch_size=7)])
    assert np.array_equal(whole, pieces)
    tail, labels = next(iter_shapes(5, seed=3, start=35))
    assert np.array_equal(tail, whole[35:]) and labels.tolist() == [i % len(SHAPE_CLASSES) for i in range(35, 40)]
    assert not np.array_equal(draw_shape(0, seed=3)[0], draw_shape(0, seed=4)[0])


def test_classes_are_balanced_colourful_and_every_image_distinct() -> None:
    images, labels, names = shapes_dataset(160)
    assert images.shape == (160, 64, 64, 3) and images.dtype == np.uint8
    assert names == list(SHAPE_CLASSES) and np.bincount(labels).tolist() == [20] * len(SHAPE_CLASSES)
    assert len({content_hash(image) for image in images}) == 160
    channel_gap = np.abs(images.astype(int) - images.astype(int).mean(axis=3, keepdims=True)).mean()
    assert channel_gap > 5  # real colour, not grey stored in three channels
    assert images.reshape(160, -1).std(axis=1).min() > 10  # the shape stands out: nothing near-constant


def test_builtin_source_standardises_to_the_configured_size_and_channels() -> None:
    loaded = load_source("builtin:shapes", size=32, channels=3, resize="stretch")
    assert loaded.images.shape == (6000, 32, 32, 3) and loaded.n_inputs == 6000
    assert loaded.class_names[:3] == ["disc", "square", "triangle"] and loaded.orig_modes[0] == "RGB"
    assert loaded.orig_sizes[0] == (64, 64)
