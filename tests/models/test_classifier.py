"""The evaluation CNN: shapes, a real (small) learning task, seeded reproducibility and input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genqc.models.classifier import (
    MAX_SHIFT,
    Classifier,
    ClassifierConfig,
    ClassifierTraining,
    _random_shift,
    evaluate_accuracy,
    train_classifier,
)
from genqc.models.configs import ClassifierBudget

TINY = ClassifierConfig(num_classes=10, channels=1, image_size=16, width=8)


def sklearn_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1797 8x8 digits, upscaled to 16x16, in [-1, 1]."""
    data = load_digits()
    images = np.kron(data.images, np.ones((2, 2))) / 16.0 * 2 - 1  # (N, 8, 8) -> (N, 16, 16), 0..16 -> [-1, 1]
    return torch.from_numpy(images).float()[:, None], torch.from_numpy(data.target).long()


def test_logits_and_features_shapes() -> None:
    model = Classifier(ClassifierConfig(num_classes=7, channels=3, image_size=32, width=32)).eval()
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    assert model(x).shape == (5, 7) and model(x).dtype == torch.float32
    assert model.features(x).shape == (5, 128) == (5, model.feature_dim)


def test_learns_real_digits() -> None:
    images, labels = sklearn_digits()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    train, test = order[:800], order[800:]
    training = ClassifierTraining(epochs=4, batch_size=32, lr=5e-3)
    model, history = train_classifier(
        images[train],
        labels[train],
        config=TINY,
        training=training,
        seed=3,
        val_images=images[test],
        val_labels=labels[test],
    )
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    accuracy = evaluate_accuracy(model, images[test], labels[test])
    assert accuracy > 0.85 and accuracy == history[-1]["val_accuracy"]
    assert not model.training


def test_same_seed_same_weights() -> None:
    images, labels = sklearn_digits()
    kwargs = {"config": TINY, "training": ClassifierTraining(epochs=1, batch_size=32, lr=5e-3)}
    a, _ = train_classifier(images[:96], labels[:96], seed=1, **kwargs)
    b, _ = train_classifier(images[:96], labels[:96], seed=1, **kwargs)
    c, _ = train_classifier(images[:96], labels[:96], seed=2, **kwargs)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_random_shift_moves_content_within_bounds() -> None:
    x = torch.full((50, 1, 9, 9), -1.0)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the centre
    shifted = _random_shift(x, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    where = (shifted[:, 0] == 1).nonzero()[:, 1:]  # (50, 2) positions of the bright pixel
    assert len(where) == 50 and ((where - 4).abs() <= MAX_SHIFT).all()
    assert len({tuple(p) for p in where.tolist()}) > 5


def test_evaluate_accuracy_restores_mode_and_counts_exactly() -> None:
    model = Classifier(TINY)
    model.train()
    x = torch.rand(6, 1, 16, 16)
    model.eval()
    predicted = model(x).argmax(1)
    model.train()
    wrong = (predicted + 1) % 10
    labels = torch.cat([predicted[:4], wrong[4:]])
    assert evaluate_accuracy(model, x, labels, batch_size=4) == pytest.approx(4 / 6)
    assert model.training


def test_bad_inputs_are_reported() -> None:
    x, y = torch.zeros(4, 1, 16, 16), torch.tensor([0, 1, 2, 10])
    training = ClassifierTraining(epochs=1, batch_size=2, lr=1e-3, weight_decay=0.0)
    common = {"config": TINY, "training": training, "seed": 0}
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        train_classifier(x, y, **common)
    with pytest.raises(ValueError, match="must be equal"):
        train_classifier(x, y[:3], **common)
    with pytest.raises(ValueError, match="at least 2 classes"):
        Classifier(ClassifierConfig(num_classes=1))


def _uint8_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The same digits as uint8 (N, 1, 16, 16) storage (0..255), as the classifier stage keeps its splits."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.kron(data.images, np.ones((2, 2))) * (255 / 16)  # (N, 8, 8) -> (N, 16, 16) on 0..255
    return torch.from_numpy(pixels.round().astype(np.uint8))[:, None], torch.from_numpy(data.target).long()


def test_uint8_storage_trains_exactly_like_its_float_conversion() -> None:
    from genqc.data.tensors import uint8_to_tensor

    images, labels = _uint8_digits()
    images, labels = images[:256], labels[:256]
    as_float = uint8_to_tensor(images.permute(0, 2, 3, 1).numpy())  # the stage's old whole-split float copy
    kwargs = dict(config=TINY, training=ClassifierTraining(epochs=2, batch_size=64, lr=5e-3), seed=1)
    a, history_a = train_classifier(images, labels, **kwargs)
    b, history_b = train_classifier(as_float, labels, **kwargs)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    assert [r["loss"] for r in history_a] == [r["loss"] for r in history_b]
    assert evaluate_accuracy(a, images, labels) == evaluate_accuracy(b, as_float, labels)


def test_step_budget_stops_training_and_says_so() -> None:
    images, labels = _uint8_digits()
    training = ClassifierTraining(epochs=5, batch_size=64, lr=5e-3)
    _, history = train_classifier(
        images[:640], labels[:640], config=TINY, training=training, seed=0, budget=ClassifierBudget(max_steps=13)
    )
    assert [row["epoch"] for row in history] == [1, 2]  # 10 steps per epoch: the budget ends in the second
    assert (history[-1]["steps"], history[-1]["stopped_by"]) == (13, "max_steps")
    _, full = train_classifier(
        images[:640],
        labels[:640],
        config=TINY,
        seed=0,
        budget=ClassifierBudget(max_steps=1000),
        training=ClassifierTraining(epochs=2, batch_size=64, lr=5e-3),
    )
    assert (full[-1]["steps"], full[-1]["stopped_by"]) == (20, "epochs")


def test_target_accuracy_stops_on_held_out_train_images() -> None:
    images, labels = _uint8_digits()
    train, held = slice(0, 1200), slice(1200, 1500)
    budget = ClassifierBudget(target_accuracy=0.6, eval_every=5)
    training = ClassifierTraining(epochs=20, batch_size=32, lr=5e-3)
    model, history = train_classifier(
        images[train],
        labels[train],
        config=TINY,
        training=training,
        seed=0,
        val_images=images[held],
        val_labels=labels[held],
        budget=budget,
    )
    last = history[-1]
    assert last["stopped_by"] == "target_accuracy" and last["steps"] < 20 * 38
    assert last["val_accuracy"] >= 0.6 == budget.target_accuracy
    assert last["val_accuracy"] == evaluate_accuracy(model, images[held], labels[held])
    with pytest.raises(ValueError, match="held-out validation images from the training split"):
        train_classifier(
            images[train], labels[train], config=TINY, training=ClassifierTraining(epochs=1), seed=0, budget=budget
        )
