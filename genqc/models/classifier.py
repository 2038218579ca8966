"""The domain classifier: a small CNN whose logits and penultimate features are an evaluation network.

Its features (global-average-pooled, D = 4 x width = 128 by default) feed the
Frechet distance ``fd_classifier``, precision/recall and coverage; its logits the
Inception-style score and the class balance of samples. It is trained by
``train_classifier`` (a pure function: tensors in, model and history out; the
classifier stage owns files and params).
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genqc.models.configs import ClassifierBudget, ClassifierConfig, ClassifierTraining
from genqc.models.layers import check_shape_fields
from genqc.progress import Progress

MAX_SHIFT = 2  # random translation (pixels) during training: digits are not always centred


def _block(cin: int, cout: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


class Classifier(nn.Module):
    """Three conv blocks (BatchNorm, ReLU, 2x pooling), global average pooling, dropout, linear head."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        check_shape_fields(config.channels, 0, "classifier")
        if config.num_classes < 2:
            raise ValueError(f"classifier needs at least 2 classes, got num_classes={config.num_classes}")
        if config.image_size < 8:
            raise ValueError(f"ingest.image_size={config.image_size} is too small for the classifier (needs >= 8)")
        self.config = config
        w = config.width
        self.blocks = nn.ModuleList([_block(config.channels, w, 1), _block(w, 2 * w, 1), _block(2 * w, 4 * w, 2)])
        self.dropout = nn.Dropout(0.3)  # 4000 training images overfit a 0.3M-parameter net without it
        self.head = nn.Linear(4 * w, config.num_classes)

    @property
    def feature_dim(self) -> int:
        return 4 * self.config.width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 4*width): what the Frechet distance and precision/recall compare."""
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i < len(self.blocks) - 1:
                h = F.max_pool2d(h, 2)
        return h.float().mean(dim=(2, 3))  # (B, C, H, W) -> (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes)."""
        return self.head(self.dropout(self.features(x))).float()


def _random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to MAX_SHIFT pixels (zero-padded in [-1, 1] units, i.e. background -1)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (MAX_SHIFT,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * MAX_SHIFT + 1, (2, b), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    shifted = padded[torch.arange(b)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return shifted.permute(0, 3, 1, 2).contiguous()  # (B, H, W, C) -> (B, C, H, W)


def as_model_input(images: torch.Tensor) -> torch.Tensor:
    """A batch as the net takes it: uint8 (B, C, H, W) storage -> float32 in [-1, 1]; float batches pass through.

    The classifier keeps whole splits as uint8 (a quarter of float32's memory)
    and converts one batch at a time, with the same arithmetic as
    ``genqc.data.tensors.uint8_to_tensor``, so both inputs train identically.
    """
    if images.dtype == torch.uint8:  # a strided view of (N, H, W, C) storage becomes a contiguous float batch
        return images.to(torch.float32, memory_format=torch.contiguous_format).div_(127.5).sub_(1.0)
    return images


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: ClassifierConfig,
    training: ClassifierTraining,
    seed: int,
    device: str | torch.device = "cpu",
    val_images: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
    budget: ClassifierBudget | None = None,
    progress: bool = True,
) -> tuple[Classifier, list[dict[str, Any]]]:
    """Train the classifier on (N, C, H, W) images (uint8, or float in [-1, 1]) and int labels (N,).

    AdamW with a one-cycle learning rate (warm-up then cosine decay) peaking at
    ``training.lr``: robust at the default lr for few epochs. Shuffling, shifts, init and dropout follow ``seed``.
    uint8 images are converted one batch at a time (memory: the uint8 split).
    ``budget`` stops early (steps, seconds, or a held-out accuracy reached on
    ``val_images``, which must come from the training data, never the test split).
    Returns the model in eval mode and one history row per epoch (train loss and
    accuracy, validation accuracy when ``val_images`` is given, seconds); the last
    row also says how many ``steps`` ran and what stopped training (``stopped_by``:
    epochs, max_steps, max_seconds or target_accuracy).
    """
    budget = budget or ClassifierBudget()
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"images ({images.shape[0]}) and labels ({labels.shape[0]}) must be equal and non-empty")
    epochs, batch_size, lr = training.epochs, training.batch_size, training.lr
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs={epochs} and batch_size={batch_size} must be >= 1")
    if budget.target_accuracy is not None and (val_images is None or val_labels is None or len(val_images) == 0):
        raise ValueError("a target accuracy needs held-out validation images from the training split")
    labels = labels.long()
    if int(labels.min()) < 0 or int(labels.max()) >= config.num_classes:
        raise ValueError(f"labels must lie in [0, {config.num_classes}), got {int(labels.min())}..{int(labels.max())}")
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    steps_per_epoch = -(-images.shape[0] // batch_size)
    planned = epochs * steps_per_epoch
    total_steps = min(planned, budget.max_steps) if budget.max_steps else planned
    with (
        torch.random.fork_rng(devices=devices),
        Progress(total_steps if progress else 0, "classifier", unit="step") as bar,
    ):
        torch.manual_seed(seed)
        model = Classifier(config).to(device)
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=lr, betas=tuple(training.betas), weight_decay=training.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=total_steps)
        history: list[dict[str, Any]] = []
        started, step, stopped_by = time.perf_counter(), 0, "epochs"
        for epoch in range(epochs):
            start, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
            model.train()
            order = torch.randperm(images.shape[0], generator=generator)
            val_accuracy, checked_at = None, -1
            for begin in range(0, images.shape[0], batch_size):
                index = order[begin : begin + batch_size]
                x = _random_shift(as_model_input(images[index]), generator).to(device)
                y = labels[index].to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                step += 1
                bar.update(1)
                total_loss += loss.item() * len(index)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(index)
                stopped_by = _budget_stop(budget, step, total_steps, planned, started)
                if budget.target_accuracy is not None and not stopped_by and step % budget.eval_every == 0:
                    val_accuracy, checked_at = evaluate_accuracy(model, val_images, val_labels), step
                    stopped_by = "target_accuracy" if val_accuracy >= budget.target_accuracy else ""
                if stopped_by:
                    break
            row: dict[str, Any] = {"epoch": epoch + 1, "loss": total_loss / seen, "train_accuracy": correct / seen}
            if val_images is not None and val_labels is not None:
                if checked_at != step:  # the model changed since the last check
                    val_accuracy = evaluate_accuracy(model, val_images, val_labels)
                row["val_accuracy"] = val_accuracy
                if not stopped_by and budget.target_accuracy is not None and val_accuracy >= budget.target_accuracy:
                    stopped_by = "target_accuracy"
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            if stopped_by:
                break
        history[-1]["steps"] = step
        history[-1]["stopped_by"] = stopped_by or "epochs"
    model.eval()
    return model, history


def _budget_stop(budget: ClassifierBudget, step: int, total_steps: int, planned: int, started: float) -> str:
    """The name of the budget that ends training after ``step`` steps, or "" to go on."""
    if step >= total_steps and total_steps < planned:
        return "max_steps"
    if budget.max_seconds is not None and time.perf_counter() - started >= budget.max_seconds:
        return "max_seconds"
    return ""


@torch.no_grad()
def evaluate_accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 128) -> float:
    """Top-1 accuracy on (N, C, H, W) images (uint8, or float in [-1, 1]); restores the model's train/eval mode.

    ``batch_size`` bounds memory only (eval mode: no batch statistics); 128 keeps a 64x64 RGB batch's
    first activation at ~70 MB.
    """
    if images.shape[0] == 0:
        raise ValueError("evaluate_accuracy needs at least one image")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        correct = 0
        for begin in range(0, images.shape[0], batch_size):
            logits = model(as_model_input(images[begin : begin + batch_size]).to(device))
            correct += int((logits.argmax(1).cpu() == labels[begin : begin + batch_size].long().cpu()).sum())
    finally:
        model.train(was_training)
    return correct / images.shape[0]
