"""DVC stage ``sample@<family>``: trained weights -> data/sample/<family>/samples.parquet, a grid, a summary.

Every row records what regenerates it (index, seed, requested label, source
model, latent temperature); with the domain classifier present, each row also
carries the classifier's predicted label and confidence and its realism score
against the training images. An optional rejection filter (``sample.filter``) redraws
unrealistic samples; every rejected draw is listed in rejected.parquet and
counted in the summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genqc.config import Params
from genqc.data.table import images_to_table, read_table
from genqc.errors import ConfigError, DataError
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.references import capped_train_set
from genqc.features import build_extractor
from genqc.features.cache import FeatureCache, extract_cached
from genqc.io import write_json, write_parquet
from genqc.sampling import NO_LABEL, SCORE, Source, classifier_scorer, sample_images
from genqc.training.checkpoint import EMA_FILE, LAST, load_checkpoint
from genqc.training.device import resolve_device
from genqc.training.grid import image_grid, save_png
from tasks.common import params_from_args, print_table
from tasks.paths import (
    CLASSIFIER_CHECKPOINT,
    FEATURE_STORE,
    VALIDATED_TRAIN,
    checkpoints_dir,
    rejected_path,
    sample_grid_path,
    sample_summary_path,
    samples_path,
)


def checkpoint_path(family: str, use_ema: bool) -> Path:
    """ema.pt holds the sampling weights (EMA ones unless EMA was off); last.pt the raw training weights."""
    return checkpoints_dir(family) / (EMA_FILE if use_ema else LAST)


def _load_sources(params: Params, family: str, device: object) -> list:
    cfg = params.sample
    paths = [checkpoint_path(family, cfg.use_ema), *map(Path, cfg.ensemble)]
    sources = []
    for i, path in enumerate(paths):
        if not path.is_file():
            what = f"run `dvc repro train@{family}` first" if i == 0 else "fix sample.ensemble in params.yaml"
            raise ConfigError(f"checkpoint {path} not found ({'train.model' if i == 0 else 'sample.ensemble'}); {what}")
        loaded = load_checkpoint(path, use_ema=cfg.use_ema, device=device)
        if cfg.use_ema and not loaded.ema:
            print(f"EMA disabled <train.ema_decay=0> for {path}: sampling its raw weights")
        name = family if i == 0 else f"{loaded.family}:{path}"
        sources.append(Source(name, loaded.model, loaded.sampler, cfg.latent_scale.get(loaded.family, 1.0)))
    return sources


def _class_names(train: pd.DataFrame | None) -> dict[int, str]:
    if train is None or "class_name" not in train.columns:
        return {}
    pairs = train[["label", "class_name"]].drop_duplicates("label")
    return {int(label): str(name) for label, name in zip(pairs["label"], pairs["class_name"], strict=True)}


def _scorer(params: Params, train: pd.DataFrame | None, device: object):
    """The classifier scorer when the classifier exists; None without it (then the filter must be off)."""
    kind = params.sample.filter.kind
    if not CLASSIFIER_CHECKPOINT.is_file():
        if kind != "none":
            raise ConfigError(
                f"sample.filter.kind={kind!r} needs the domain classifier {CLASSIFIER_CHECKPOINT}; "
                "run `dvc repro classifier` first or set sample.filter.kind: none"
            )
        print(f"no classifier at {CLASSIFIER_CHECKPOINT}: samples get no predicted label, confidence or realism")
        return None

    extractor = build_extractor("classifier", checkpoint=CLASSIFIER_CHECKPOINT)
    real = None
    if train is not None:  # evaluate's capped train subset, whose features the features stage stored
        subset = capped_train_set(EvalSet.from_table(train), max_train=params.evaluate.max_train, seed=params.seed)
        real = extract_cached(
            extractor,
            subset,
            layers=["pool"],
            cache=FeatureCache(FEATURE_STORE, read_only=True),
            images_hash=subset.data_hash,
            batch_size=params.evaluate.batch_size,
            device=device,
        )["pool"]
    return classifier_scorer(
        extractor,
        kind=kind,
        real_features=real,
        k=params.sample.filter.k,
        batch_size=params.evaluate.batch_size,
        device=device,
    )


def _grid(images: np.ndarray, labels: np.ndarray, side: int) -> np.ndarray:
    """side x side images; a conditional run shows one row per class (its first ``side`` samples)."""
    if (labels >= 0).any():
        rows = [images[labels == c][:side] for c in np.unique(labels[labels >= 0])]
        blank = np.zeros((side, *images.shape[1:]), dtype=np.uint8)
        padded = [np.concatenate([r, blank[: side - len(r)]]) for r in rows]
        return image_grid(np.concatenate(padded), nrow=side)
    return image_grid(images[: side * side], nrow=side)


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    family = args.model or params.train.model
    cfg = params.sample
    device = resolve_device(cfg.device, key="sample.device")
    sources = _load_sources(params, family, device)
    train = read_table(str(VALIDATED_TRAIN)) if VALIDATED_TRAIN.is_file() else None
    scorer = _scorer(params, train, device)
    threshold = cfg.filter.threshold if cfg.filter.kind != "none" else None

    start = time.perf_counter()
    result = sample_images(
        sources,
        cfg.n,
        seed=params.seed,
        batch_size=cfg.batch_size,
        weights=cfg.weights or None,
        scorer=scorer,
        threshold=threshold,
        max_draws=cfg.filter.max_draws,
        device=device,
    )
    seconds = time.perf_counter() - start
    if result.accepted == 0:
        raise DataError(
            f"sample.filter kept none of {result.drawn} draws (kind={cfg.filter.kind}, "
            f"threshold={cfg.filter.threshold}); lower sample.filter.threshold or raise "
            "sample.filter.max_draws"
        )

    names = _class_names(train)
    columns = {k: v for k, v in result.columns.items() if k != SCORE}
    scale_of = {s.name: s.latent_scale for s in sources}
    extra = {
        "index": result.index,
        "seed": result.seed,
        "source_model": result.source,
        "latent_scale": np.array([scale_of[name] for name in result.source], dtype=np.float64),
        **columns,
    }
    table = images_to_table(
        result.images,
        result.label,
        [f"{family}-{i:07d}" for i in result.index],
        class_names=[names.get(int(lab), str(lab)) if lab != NO_LABEL else "" for lab in result.label],
        sources=[f"sample:{s}" for s in result.source],
        extra=extra,
    )
    rejected = pd.DataFrame(
        {
            "index": result.rejected["index"],
            "seed": result.rejected["seed"],
            "label": result.rejected["label"],
            "source_model": pd.Series(result.rejected["source"], dtype="string"),
            "score": result.rejected[SCORE],
            "reason": pd.Series(
                [f"{cfg.filter.kind} < {cfg.filter.threshold}"] * len(result.rejected["index"]), dtype="string"
            ),
        }
    )
    summary = {
        "model": family,
        "requested": result.requested,
        "accepted": result.accepted,
        "drawn": result.drawn,
        "rejected": len(rejected),
        "acceptance_rate": result.acceptance_rate,
        "complete": result.complete,
        "filter": cfg.filter.kind,
        "threshold": threshold,
        "use_ema": cfg.use_ema,
        "latent_scale": scale_of,
        "seed": params.seed,
        "sources": {s.name: result.source.count(s.name) for s in sources},
        "seconds": round(seconds, 3),
        "images_per_s": round(result.drawn / seconds, 2) if seconds > 0 else None,
    }
    write_parquet(table, samples_path(family))
    write_parquet(rejected, rejected_path(family))
    save_png(_grid(result.images, result.label, cfg.grid), sample_grid_path(family))
    write_json(summary, sample_summary_path(family))

    print(
        f"sample {family} on {device} -> {samples_path(family)} (seed={params.seed}, "
        f"{'EMA' if cfg.use_ema else 'raw'} weights, batch {cfg.batch_size})"
    )
    rows = [(k, v) for k, v in summary.items() if k not in ("model", "sources")]
    rows += [(f"from {name}", count) for name, count in summary["sources"].items()] if len(sources) > 1 else []
    if "predicted_label" in result.columns:
        counts = np.bincount(result.columns["predicted_label"])
        rows.append(("predicted classes", " ".join(f"{c}:{n}" for c, n in enumerate(counts))))
    print_table(rows, ("", "value"))
    if not result.complete:
        print(
            f"WARNING: only {result.accepted} of {cfg.n} samples passed sample.filter ({cfg.filter.kind} >= "
            f"{cfg.filter.threshold}) within sample.filter.max_draws={cfg.filter.max_draws} x n draws; lower the "
            f"threshold or raise max_draws. Rejected draws: {rejected_path(family)}"
        )
    return 0
