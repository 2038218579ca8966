"""DVC stage ``train``: data/augment/train.parquet -> data/train/<family>/{last,ema}.pt + reports/train/<family>/.

With ``train.nproc`` > 1 the stage relaunches itself under torchrun and each
worker trains on its share of every global batch; only rank 0 writes. A re-run
continues from ``last.pt`` (``train.resume``); a checkpoint made with other
settings is refused with the keys that changed.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genqc.config import Params
from genqc.data.table import LABEL, SHA256, decode_images, read_table
from genqc.errors import ConfigError, DataError
from genqc.models.base import GenerativeModel
from genqc.models.registry import SHAPE_FIELDS, build_model
from genqc.training.checkpoint import LAST
from genqc.training.device import resolve_device
from genqc.training.distributed import (
    context_from_env,
    destroy_process_group,
    in_torchrun,
    init_process_group,
    launch_torchrun,
    split_batch,
)
from genqc.training.loop import TrainConfig, check_resumable, train
from tasks.common import params_from_args, print_table, seed_everything
from tasks.paths import AUGMENTED_TRAIN, TRAIN_REPORTS, checkpoints_dir

INPUT = AUGMENTED_TRAIN
#: train.* keys that change what the weights become (fingerprinted with train.<family>, which holds the
#: family's optimiser settings); steps is not one: raising it continues a run
RECIPE_KEYS = ("batch_size", "l1", "grad_clip", "ema_decay", "ema_warmup", "conditional")


@dataclass
class Prepared:
    model: GenerativeModel
    images: torch.Tensor  # uint8 (N, H, W, C)
    labels: torch.Tensor | None
    fields: dict[str, Any]


def _load_images(params: Params) -> tuple[np.ndarray, np.ndarray, str]:
    frame = read_table(str(INPUT))
    if len(frame) == 0:
        raise DataError(f"{INPUT} has no rows; check the augment and validate stages")
    images = decode_images(frame)
    size, channels = params.ingest.image_size, params.ingest.channels
    if images.shape[1:] != (size, size, channels):
        found = "x".join(str(d) for d in images.shape[1:])
        raise DataError(
            f"{INPUT} holds {found} images but ingest.image_size={size} and ingest.channels={channels}; "
            "re-run `dvc repro augment`"
        )
    labels = frame[LABEL].to_numpy(dtype=np.int64, copy=True)
    if labels.min() < 0:
        raise DataError(f"{INPUT} has negative labels ({int(labels.min())}); labels must be 0..K-1")
    digest = hashlib.sha256("\n".join(frame[SHA256].astype(str)).encode()).hexdigest() if SHA256 in frame else ""
    return images, labels, digest


def prepare(params: Params, family: str) -> Prepared:
    """Read the table, build the model and the fingerprinted settings (the same in every process)."""
    cfg = params.train
    images, labels, digest = _load_images(params)
    num_classes = int(labels.max()) + 1 if cfg.conditional else 0
    section = getattr(cfg, family).model_dump()
    shape = {"image_size": params.ingest.image_size, "channels": params.ingest.channels, "num_classes": num_classes}
    torch.manual_seed(params.seed)  # the initial weights are a function of the seed
    try:
        model = build_model(family, {**section, **shape})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"train.{family}: {exc}") from None
    fields: dict[str, Any] = {
        "train.model": family,
        "seed": params.seed,
        "ingest.image_size": shape["image_size"],
        "ingest.channels": shape["channels"],
        "num_classes": num_classes,
        "data.sha256": digest,
    }
    fields.update({f"train.{family}.{k}": v for k, v in model.config_dict().items() if k not in SHAPE_FIELDS})
    fields.update({f"train.{k}": getattr(cfg, k) for k in RECIPE_KEYS})
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
    return Prepared(model, torch.from_numpy(images), torch.from_numpy(labels) if num_classes else None, fields)


def train_config(params: Params) -> TrainConfig:
    """The loop's settings: train.* (derived from TrainConfig, so every field is there) and the top-level seed."""
    return params.train.build(TrainConfig, seed=params.seed)


def _start_fresh(family: str) -> None:
    for path in (checkpoints_dir(family)).glob("*.pt"):
        path.unlink()
    print(f"train.resume=false: removed old checkpoints in {checkpoints_dir(family)}/")


def _launch(args: argparse.Namespace, params: Params, family: str) -> int:
    """The parent of a multi-process run: check what can be checked here (exit 2 stays 2), then torchrun."""
    cfg = params.train
    split_batch(cfg.batch_size, cfg.nproc)
    if cfg.resume:
        check_resumable(checkpoints_dir(family), prepare(params, family).fields)
    else:
        _start_fresh(family)
    print(
        f"train {family}: {cfg.nproc} processes under torchrun, global batch {cfg.batch_size} "
        f"({cfg.batch_size // cfg.nproc} per process)",
        flush=True,
    )
    module_args = ["genqc.cli", "train", "--params", str(args.params), "--model", family]
    code = launch_torchrun(module_args, cfg.nproc)
    return 0 if code == 0 else 1


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.train
    family = getattr(args, "model", None) or cfg.model
    ctx = context_from_env()
    device = resolve_device(cfg.device, local_rank=ctx.local_rank)
    if cfg.nproc > 1 and not in_torchrun():
        return _launch(args, params, family)
    if ctx.world != cfg.nproc:
        raise ConfigError(f"train.nproc={cfg.nproc} but torchrun started {ctx.world} processes; make them agree")
    if not cfg.resume and not in_torchrun():
        _start_fresh(family)
    seed_everything(params.seed)
    prepared = prepare(params, family)
    init_process_group(ctx, device)
    try:
        result = train(
            prepared.model,
            prepared.images,
            prepared.labels,
            train_config(params),
            fields=prepared.fields,
            run_dir=checkpoints_dir(family),
            log_dir=TRAIN_REPORTS / family if ctx.is_main else None,
            device=device,
            ctx=ctx,
        )
    finally:
        destroy_process_group()
    if not ctx.is_main:
        return 0
    losses = {k: v for k, v in result.values.items() if k.endswith("/loss")}
    print(
        f"\ntrain {family} on {device.type} x{ctx.world}: steps {result.start_step} -> {result.final_step} of "
        f"{cfg.steps}, {len(prepared.images)} images, seed {params.seed}"
    )
    rows = [(k, f"{v:.4g}") for k, v in losses.items()]
    rows += [
        ("images/s", f"{result.images_per_s:.0f}"),
        ("seconds", f"{result.seconds:.1f}"),
        ("ema", "on" if result.ema else "off <train.ema_decay=0>"),
        ("checkpoint", checkpoints_dir(family) / LAST),
        ("sampling weights", result.sampling_checkpoint),
        ("samples", result.samples_png),
    ]
    print_table(rows, ("", "value"))
    return 0
