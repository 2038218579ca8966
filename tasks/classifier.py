"""DVC stage ``classifier``: data/validate/{train,test}.parquet -> data/classifier/{classifier.pt,metrics.json}.

The domain classifier is the evaluation network behind ``fd_classifier``, the
Inception-style score and the class balance of samples, so its test accuracy is
a DVC metric: a weak classifier makes every metric built on it weak. Below
``classifier.min_accuracy`` the stage prints a WARNING block and records
``evaluator_ok: false`` (in metrics.json and in the checkpoint, beside the
weights every classifier-space metric uses); no better than a constant guess,
it exits 1 (genqc.models.classifier_check says why).

Splits stay uint8 in memory and become float one batch at a time. Training
stops at ``epochs``, ``max_steps``, ``max_seconds`` or, when set, at
``target_accuracy`` on a seeded held-out part of the TRAIN split (never test).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from genqc.config import Params
from genqc.data.split import stratified_split
from genqc.data.table import LABEL, decode_images, read_table
from genqc.errors import ConfigError, DataError
from genqc.io import write_json
from genqc.models.classifier import as_model_input, train_classifier
from genqc.models.classifier_check import judge_accuracy
from genqc.models.configs import ClassifierBudget, ClassifierConfig, ClassifierTraining
from genqc.training.checkpoint import save_classifier
from genqc.training.device import resolve_device
from tasks.common import params_from_args, print_table
from tasks.paths import CLASSIFIER_CHECKPOINT, CLASSIFIER_METRICS, VALIDATED_TEST, VALIDATED_TRAIN

SPLITS = {"train": VALIDATED_TRAIN, "test": VALIDATED_TEST}


def _split(params: Params, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A validated split as uint8 (N, C, H, W) (a view of the decoded pixels, no float copy) and int64 labels."""
    path = SPLITS[name]
    frame = read_table(str(path))
    if len(frame) == 0:
        raise DataError(f"{path} has no rows; the classifier needs both validated splits")
    images = decode_images(frame)
    size, channels = params.ingest.image_size, params.ingest.channels
    if images.shape[1:] != (size, size, channels):
        found = "x".join(str(d) for d in images.shape[1:])
        raise DataError(
            f"{path} holds {found} images but ingest.image_size={size} and ingest.channels={channels}; "
            "re-run `dvc repro validate`"
        )
    labels = frame[LABEL].to_numpy(dtype=np.int64, copy=True)
    if labels.min() < 0:
        raise DataError(f"{path} has negative labels ({int(labels.min())}); labels must be 0..K-1")
    return torch.from_numpy(images).permute(0, 3, 1, 2), torch.from_numpy(labels)  # (N,H,W,C) -> (N,C,H,W) view


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.classifier
    device = resolve_device(cfg.device, key="classifier.device")
    train_x, train_y = _split(params, "train")
    test_x, test_y = _split(params, "test")
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    unseen = sorted(set(test_y.tolist()) - set(train_y.tolist()))
    if unseen:
        raise DataError(
            f"test labels {unseen} never occur in {VALIDATED_TRAIN}; the classifier cannot "
            "learn them (check ingest.split and the validate stage's label checks)"
        )
    val_x = val_y = None
    if cfg.target_accuracy is not None:
        held = torch.from_numpy(stratified_split(train_y.numpy(), cfg.val_fraction, params.seed))
        if bool(held.all()) or not bool(held.any()):
            raise ConfigError(
                f"classifier.val_fraction={cfg.val_fraction} leaves no train or no held-out images "
                f"of the {len(train_y)} in the train split"
            )
        val_x, val_y = train_x[held], train_y[held]
        train_x, train_y = train_x[~held], train_y[~held]
    config = cfg.build(
        ClassifierConfig, num_classes=num_classes, channels=params.ingest.channels, image_size=params.ingest.image_size
    )
    try:
        model, history = train_classifier(
            train_x,
            train_y,
            config=config,
            training=cfg.build(ClassifierTraining),
            seed=params.seed,
            device=device,
            val_images=val_x,
            val_labels=val_y,
            budget=cfg.build(ClassifierBudget),
        )
    except ValueError as exc:
        raise ConfigError(f"classifier: {exc}") from None
    with torch.no_grad():
        step = cfg.batch_size  # activations scale with batch x pixels: the training batch already fits
        batches = [
            model(as_model_input(test_x[i : i + step]).to(device)).argmax(1).cpu() for i in range(0, len(test_x), step)
        ]
    predictions = torch.cat(batches)
    accuracy = float((predictions == test_y).float().mean())
    per_class = {int(k): float((predictions[test_y == k] == k).float().mean()) for k in torch.unique(test_y).tolist()}
    verdict = judge_accuracy(accuracy, test_y.numpy(), min_accuracy=cfg.min_accuracy)
    last = history[-1]
    metrics = {
        "test_accuracy": accuracy,
        "train_accuracy": float(last.get("train_accuracy", float("nan"))),
        "worst_class_accuracy": min(per_class.values()),
        "test_images": len(test_x),
        "train_images": len(train_x),
        "num_classes": num_classes,
        "epochs": cfg.epochs,
        "epochs_run": len(history),
        "steps": int(last["steps"]),
        "stopped_by": last["stopped_by"],
        **({"val_accuracy": float(last["val_accuracy"]), "val_images": len(val_x)} if val_x is not None else {}),
        **verdict.metrics(),
    }
    save_classifier(CLASSIFIER_CHECKPOINT, model.cpu(), metrics=metrics)
    write_json({**metrics, "per_class_accuracy": {str(k): v for k, v in per_class.items()}}, CLASSIFIER_METRICS)
    seconds = sum(row.get("seconds", 0.0) for row in history)
    print(
        f"classifier on {device.type}: {len(train_x)} train / {len(test_x)} test images, {num_classes} classes, "
        f"{metrics['steps']} steps ({len(history)} of {cfg.epochs} epochs, stopped by {metrics['stopped_by']}) "
        f"in {seconds:.1f}s, seed {params.seed}"
    )
    rows = [("test accuracy", f"{accuracy:.4f}"), ("worst class", f"{metrics['worst_class_accuracy']:.4f}")]
    if val_x is not None:
        rows.append(("held-out train accuracy", f"{metrics['val_accuracy']:.4f}"))
    rows += [
        ("evaluator ok", f"{verdict.ok} (min_accuracy {cfg.min_accuracy:g})"),
        ("checkpoint", CLASSIFIER_CHECKPOINT),
        ("metrics", CLASSIFIER_METRICS),
    ]
    print_table(rows, ("", "value"))
    if not verdict.ok:
        print(verdict.warning(), file=sys.stderr, flush=True)
    if verdict.no_better_than_guessing:
        raise DataError(
            f"classifier test accuracy {accuracy:.4f} is no better than always guessing the most "
            f"frequent class ({verdict.baseline:.4f}): every classifier-space metric would be noise; "
            "raise classifier.epochs / classifier.max_steps or check the labels"
        )
    return 0
