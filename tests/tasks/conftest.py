"""Fixtures shared by the stage tests: digits tables and a small trained domain classifier."""

from __future__ import annotations

import pytest
import torch

from genqc.data.sources import load_source
from genqc.data.split import stratified_split
from genqc.data.table import decode_images, images_to_table
from genqc.data.tensors import uint8_to_tensor
from genqc.models.classifier import ClassifierConfig, ClassifierTraining, train_classifier
from genqc.training.checkpoint import save_classifier


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Digits at 16x16: train / test tables, a held-out set the size of the samples, and a trained classifier."""
    loaded = load_source("builtin:digits", size=16, channels=1, resize="stretch")
    table = images_to_table(loaded.images, loaded.labels, loaded.ids)
    rest_mask = stratified_split(loaded.labels, 0.4, seed=0)
    train, rest = table[~rest_mask].reset_index(drop=True), table[rest_mask].reset_index(drop=True)
    held_mask = stratified_split(rest["label"].to_numpy(), 0.5, seed=1)
    test, held = rest[~held_mask].reset_index(drop=True), rest[held_mask].reset_index(drop=True)
    images = uint8_to_tensor(decode_images(train))
    model, _ = train_classifier(
        images,
        torch.tensor(train["label"].to_numpy()),
        config=ClassifierConfig(num_classes=10, channels=1, image_size=16, width=16),
        training=ClassifierTraining(epochs=3, batch_size=64, lr=4e-3),
        seed=0,
    )
    root = tmp_path_factory.mktemp("digits")
    save_classifier(root / "classifier.pt", model, metrics={})
    return {"train": train, "test": test, "held": held, "classifier": root / "classifier.pt", "cache": root / "cache"}
