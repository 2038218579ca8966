"""DVC stage ``classifier``: data/validate/{train,test}.parquet -> data/classifier/{classifier.pt,metrics.json}.

The domain classifier is the evaluation network behind ``fd_classifier``, the
Inception-style score and the class balance of samples, so its test accuracy is
a DVC metric: a weak classifier makes every metric built on it weak.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from genqc.config import Params
from genqc.data.table import LABEL, decode_images, read_table
from genqc.data.tensors import uint8_to_tensor
from genqc.errors import ConfigError, DataError
from genqc.io import write_json
from genqc.models.classifier import ClassifierConfig, ClassifierTraining, evaluate_accuracy, train_classifier
from genqc.training.checkpoint import save_classifier
from genqc.training.device import resolve_device
from tasks.common import params_from_args, print_table
from tasks.paths import CLASSIFIER_CHECKPOINT, CLASSIFIER_METRICS, VALIDATED_TEST, VALIDATED_TRAIN

SPLITS = {"train": VALIDATED_TRAIN, "test": VALIDATED_TEST}


def _split(params: Params, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    path = SPLITS[name]
    frame = read_table(str(path))
    if len(frame) == 0:
        raise DataError(f"{path} has no rows; the classifier needs both validated splits")
    images = decode_images(frame)
    size, channels = params.ingest.image_size, params.ingest.channels
    if images.shape[1:] != (size, size, channels):
        found = "x".join(str(d) for d in images.shape[1:])
        raise DataError(f"{path} holds {found} images but ingest.image_size={size} and ingest.channels={channels}; "
                        "re-run `dvc repro validate`")  # fmt: skip
    labels = frame[LABEL].to_numpy(dtype=np.int64, copy=True)
    if labels.min() < 0:
        raise DataError(f"{path} has negative labels ({int(labels.min())}); labels must be 0..K-1")
    return uint8_to_tensor(images), torch.from_numpy(labels)


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.classifier
    device = resolve_device(cfg.device, key="classifier.device")
    train_x, train_y = _split(params, "train")
    test_x, test_y = _split(params, "test")
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    unseen = sorted(set(test_y.tolist()) - set(train_y.tolist()))
    if unseen:
        raise DataError(f"test labels {unseen} never occur in {VALIDATED_TRAIN}; the classifier cannot "
                        "learn them (check ingest.split and the validate stage's label checks)")  # fmt: skip
    config = cfg.build(ClassifierConfig, num_classes=num_classes, channels=params.ingest.channels,
                       image_size=params.ingest.image_size)  # fmt: skip
    try:
        model, history = train_classifier(train_x, train_y, config=config, training=cfg.build(ClassifierTraining),
                                          seed=params.seed, device=device)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"classifier: {exc}") from None
    accuracy = evaluate_accuracy(model, test_x, test_y)
    with torch.no_grad():
        batches = [model(test_x[i : i + 500].to(device)).argmax(1).cpu() for i in range(0, len(test_x), 500)]
    predictions = torch.cat(batches)
    per_class = {int(k): float((predictions[test_y == k] == k).float().mean()) for k in torch.unique(test_y).tolist()}
    metrics = {
        "test_accuracy": accuracy,
        "train_accuracy": float(history[-1].get("train_accuracy", float("nan"))) if history else float("nan"),
        "worst_class_accuracy": min(per_class.values()),
        "test_images": len(test_x),
        "train_images": len(train_x),
        "num_classes": num_classes,
        "epochs": cfg.epochs,
    }
    save_classifier(CLASSIFIER_CHECKPOINT, model.cpu(), metrics=metrics)
    write_json({**metrics, "per_class_accuracy": {str(k): v for k, v in per_class.items()}}, CLASSIFIER_METRICS)
    seconds = sum(row.get("seconds", 0.0) for row in history)
    print(f"classifier on {device.type}: {len(train_x)} train / {len(test_x)} test images, {num_classes} classes, "
          f"{cfg.epochs} epochs in {seconds:.1f}s, seed {params.seed}")  # fmt: skip
    print_table([("test accuracy", f"{accuracy:.4f}"), ("worst class", f"{metrics['worst_class_accuracy']:.4f}"),
                 ("checkpoint", CLASSIFIER_CHECKPOINT), ("metrics", CLASSIFIER_METRICS)], ("", "value"))  # fmt: skip
    return 0
