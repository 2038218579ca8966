"""DVC stage ``evaluate@<family>``: samples vs real images -> metrics with intervals and floors, plots, gates.

Every distance is measured twice in each feature space: test images vs the
samples (the score) and test images vs as many training images (the floor, what
a perfect model would reach: ``<key>_floor``). Scores carry bootstrap intervals.
Gates run on the finished metrics; a failed gate exits 1 only after every
output is written, so the failing run can still be inspected.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genqc.config import EvaluateParams, Params
from genqc.errors import ConfigError, GateFailure
from genqc.io import write_json, write_parquet
from tasks.common import (
    CLASSIFIER_DIR,
    EVALUATE_DIR,
    EVALUATE_REPORTS,
    FEATURE_CACHE,
    TRAIN_DIR,
    VALIDATE_DIR,
    params_from_args,
    print_table,
)
from tasks.sample import samples_path, summary_path

CLASSIFIER_CHECKPOINT = CLASSIFIER_DIR / "classifier.pt"
TRAIN_TABLE, TEST_TABLE = VALIDATE_DIR / "train.parquet", VALIDATE_DIR / "test.parquet"
FLOOR = "_floor"
QUALIFIERS = ("_ci_low", "_ci_high", "_se", "_std", FLOOR)


def metrics_path(family: str) -> Path:
    return EVALUATE_REPORTS / family / "metrics.json"


def plots_dir(family: str) -> Path:
    return EVALUATE_REPORTS / family / "plots"


def nearest_path(family: str) -> Path:
    return EVALUATE_DIR / family / "nearest.parquet"


class Inputs:
    """The three image tables, decoded once, with their content hashes (the feature cache keys)."""

    def __init__(self, params: Params, family: str) -> None:
        from genqc.data.table import read_table
        from genqc.sampling import subset_indices

        self.test = read_table(str(TEST_TABLE))
        self.samples = read_table(str(samples_path(family)))
        train = read_table(str(TRAIN_TABLE))
        self.train_all_hashes = train["sha256"].tolist()
        self.train = train.iloc[subset_indices(len(train), params.evaluate.max_train, params.seed)]
        self.train = self.train.reset_index(drop=True)
        # the floor compares test with as many train images as there are samples: FD's bias depends on set size
        self.floor = self.train.iloc[subset_indices(len(self.train), len(self.samples), params.seed + 1)]
        self.floor = self.floor.reset_index(drop=True)
        if len(self.samples) < 2:
            raise ConfigError(f"{samples_path(family)} holds {len(self.samples)} sample(s); metrics need at least 2 "
                              "(raise sample.n)")  # fmt: skip
        self._pixels: dict[str, np.ndarray] = {}

    def table(self, role: str) -> pd.DataFrame:
        return getattr(self, role)

    def pixels(self, role: str) -> np.ndarray:
        from genqc.data.table import decode_images

        if role not in self._pixels:
            self._pixels[role] = decode_images(self.table(role))
        return self._pixels[role]

    def data_hash(self, role: str) -> str:
        from genqc.features.cache import hash_from_content_hashes

        return hash_from_content_hashes(self.table(role)["sha256"])


def _extractor(name: str, cfg: EvaluateParams) -> Any:
    from genqc.features import build_extractor

    if name == "classifier":
        if not CLASSIFIER_CHECKPOINT.is_file():
            raise ConfigError(f"evaluate.extractors lists 'classifier' but {CLASSIFIER_CHECKPOINT} is missing; run "
                              "`dvc repro classifier` first or remove it from evaluate.extractors")  # fmt: skip
        return build_extractor("classifier", checkpoint=CLASSIFIER_CHECKPOINT)
    if name == "inception":
        if not cfg.inception_weights:
            raise ConfigError("evaluate.extractors lists 'inception' but evaluate.inception_weights is null; give "
                              "the path of the pt_inception-2015-12-05 weights file")  # fmt: skip
        return build_extractor("inception", weights=cfg.inception_weights)
    return build_extractor(name)


def _features(extractor: Any, inputs: Inputs, role: str, cfg: EvaluateParams, device: Any) -> dict[str, np.ndarray]:
    from genqc.features.cache import FeatureCache, extract_cached

    layers = sorted({extractor.layer_for("fd"), *(["logits"] if extractor.name == "classifier" else [])})
    return extract_cached(extractor, inputs.pixels(role), layers=layers,
                          cache=FeatureCache(FEATURE_CACHE), images_hash=inputs.data_hash(role),
                          batch_size=cfg.batch_size, device=device)  # fmt: skip


def _distances(real: dict, fake: dict, space: str, params: Params, *, bootstrap: bool) -> dict[str, float]:
    """FD, KID, precision/recall/density/coverage (the registry's keys), with intervals when ``bootstrap``."""
    from genqc.metrics.registry import compute

    cfg = params.evaluate
    n_real, n_fake = len(real["pool"]), len(fake["pool"])
    size = min(cfg.kid_subset_size, n_real, n_fake)
    # subsets as large as both sets are the whole sets, permuted, and the unbiased MMD ignores order: one is
    # enough (same value, and the bootstrap then costs `bootstrap` KIDs instead of `bootstrap x kid_subsets`)
    subsets = 1 if size >= max(n_real, n_fake) else cfg.kid_subsets
    options = {"kid": {"subset_size": size, "subsets": subsets}, "prdc": {"k_prc": cfg.k_prc, "k_dc": cfg.k_dc}}
    try:
        return compute(["fd", "kid", "prdc"], real_features=real, fake_features=fake, space=space,
                       options=options, n_bootstrap=cfg.bootstrap if bootstrap else 0, ci_level=cfg.ci_level,
                       seed=params.seed)  # fmt: skip
    except ValueError as exc:  # too few samples for k, for instance: the user fixes sizes in params.yaml
        raise ConfigError(f"{exc} (evaluate.k_prc={cfg.k_prc}, evaluate.k_dc={cfg.k_dc}, sample.n="
                          f"{params.sample.n})") from None  # fmt: skip


def _with_floor(metrics: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    """Add ``<key>_floor`` beside every headline key."""
    return {**metrics, **{k + FLOOR: v for k, v in floor.items() if not k.endswith(QUALIFIERS)}}


def _fd_ratio(metrics: dict[str, Any], space: str) -> None:
    """``fd_<space>_ratio``: FD over its floor, a scale-free number the default gate reads."""
    fd, floor = metrics.get(f"fd_{space}"), metrics.get(f"fd_{space}{FLOOR}")
    if fd is None or floor is None:
        return
    key = f"fd_{space}_ratio"
    metrics[key] = fd / floor if floor > 0 else float("inf")
    for suffix in ("_ci_low", "_ci_high"):
        if f"fd_{space}{suffix}" in metrics:
            metrics[key + suffix] = metrics[f"fd_{space}{suffix}"] / floor if floor > 0 else float("inf")


def _modes(logits: np.ndarray, train_labels: np.ndarray) -> tuple[dict[str, Any], Any]:
    """Class balance of predicted classes; a class counts as covered with a quarter of its fair share of samples."""
    from genqc.metrics.modes import MODES_COVERED, MODES_TOTAL, mode_coverage

    k = logits.shape[1]
    report = mode_coverage(logits.argmax(1), train_labels, num_classes=k, min_count=max(1, len(logits) // (4 * k)))
    out: dict[str, Any] = dict(report.summary)
    out["modes_covered_share"] = out[MODES_COVERED] / out[MODES_TOTAL] if out[MODES_TOTAL] else 0.0
    out["modes_missing"] = ",".join(str(c) for c in report.missing)
    return out, report


def _memorization(inputs: Inputs, feats: dict, role: str) -> tuple[dict[str, Any], Any]:
    """Near copies against the train subset (features), exact copies against the whole train split (hashes)."""
    from genqc.metrics.memorization import memorization

    table = inputs.table("samples" if role == "samples" else "test")
    report = memorization(feats["train"]["pool"], feats[role]["pool"], train_hashes=inputs.train["sha256"].tolist(),
                          sample_hashes=table["sha256"].tolist())  # fmt: skip
    known = set(inputs.train_all_hashes)
    out = dict(report.summary)
    out["exact_copy_share"] = float(np.mean([h in known for h in table["sha256"]]))
    return out, report


def _classifier_metrics(inputs: Inputs, feats: dict, params: Params) -> tuple[dict, list, pd.DataFrame]:
    """IS, class balance, memorisation, per-class FD: everything the classifier's features and logits give."""
    from genqc.data.table import IMAGE
    from genqc.metrics.fid import fd_from_features
    from genqc.metrics.registry import compute

    cfg = params.evaluate
    out: dict[str, Any] = {}
    splits = min(10, len(inputs.samples))  # the convention's 10 splits; fewer only for a handful of samples
    for role, suffix in (("samples", ""), ("floor", FLOOR)):
        n_boot = cfg.bootstrap if role == "samples" else 0
        scores = compute(["is"], fake_features={"logits": feats[role]["logits"]}, space="classifier",
                         options={"is": {"splits": splits}}, n_bootstrap=n_boot, ci_level=cfg.ci_level,
                         seed=params.seed)  # fmt: skip
        out.update({k + suffix: v for k, v in scores.items() if not (suffix and k.endswith(QUALIFIERS))})
    train_labels = inputs.train["label"].to_numpy()
    modes, report = _modes(feats["samples"]["logits"], train_labels)
    modes_floor, _ = _modes(feats["floor"]["logits"], train_labels)
    memo, detail = _memorization(inputs, feats, "samples")
    memo_floor, _ = _memorization(inputs, feats, "test")  # held-out real images: how often they look like copies
    for values, suffix in ((modes, ""), (modes_floor, FLOOR), (memo, ""), (memo_floor, FLOOR)):
        out.update({k + suffix: v for k, v in values.items() if not (suffix and isinstance(v, str))})
    labels = inputs.samples["label"].to_numpy()
    if (labels >= 0).any():  # a conditional model: FD of each class against that class's test images
        for c in np.unique(labels[labels >= 0]):
            fake_c, real_c = feats["samples"]["pool"][labels == c], feats["test"]["pool"][inputs.test["label"] == c]
            if len(fake_c) >= 2 and len(real_c) >= 2:
                out[f"fd_classifier_class{int(c)}"] = fd_from_features(real_c, fake_c)["fd"]
    histogram = [{"class": c, "real": float(r), "generated": float(g)}
                 for c, (r, g) in enumerate(zip(report.real_hist, report.sample_hist, strict=True))]  # fmt: skip
    order = np.argsort(detail.ratio, kind="stable")[: cfg.nearest]
    train_rows = detail.nearest_train_index[order]
    nearest = pd.DataFrame({
        "sample_id": inputs.samples["id"].iloc[order].to_numpy(),
        "sample_image": inputs.samples[IMAGE].iloc[order].to_numpy(),
        "train_id": inputs.train["id"].iloc[train_rows].to_numpy(),
        "train_image": inputs.train[IMAGE].iloc[train_rows].to_numpy(),
        "ratio": detail.ratio[order], "distance": detail.distance[order], "exact_copy": detail.exact_copy[order],
    })  # fmt: skip
    return out, histogram, nearest


def _reconstruction(inputs: Inputs, family: str, device: Any) -> dict[str, float]:
    """MSE/PSNR/SSIM of the VAE's reconstructions of the test split (VAE only)."""
    import torch

    from genqc.data.tensors import tensor_to_uint8, uint8_to_tensor
    from genqc.metrics.reconstruction import reconstruction_metrics
    from genqc.training.checkpoint import EMA_FILE, load_checkpoint

    loaded = load_checkpoint(TRAIN_DIR / family / EMA_FILE, device=device)
    images = inputs.pixels("test")
    labels = torch.as_tensor(inputs.test["label"].to_numpy()) if loaded.config.get("num_classes") else None
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), 256):
            x = uint8_to_tensor(images[start : start + 256]).to(device)
            y = None if labels is None else labels[start : start + 256].to(device)
            parts.append(tensor_to_uint8(loaded.model.reconstruct(x, y, module=loaded.sampler)))
    return reconstruction_metrics(images, np.concatenate(parts))


def _sample_summary(family: str) -> dict[str, Any]:
    path = summary_path(family)
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text())
    return {f"sample_{k}": summary[k] for k in ("acceptance_rate", "accepted", "drawn") if k in summary}


def _print_metrics(metrics: dict[str, Any], level: float, n_boot: int) -> None:
    from genqc.gates import format_number, format_value

    rows = []
    for key, value in metrics.items():
        if key.endswith(QUALIFIERS) or key.startswith("gate") or not isinstance(value, int | float):
            continue
        shown = format_value(value, metrics.get(key + "_ci_low"), metrics.get(key + "_ci_high"))
        rows.append((key, shown, format_number(metrics.get(key + FLOOR)) if key + FLOOR in metrics else ""))
    interval = f"value [{level:.0%} bootstrap interval, {n_boot} resamples]" if n_boot else "value"
    print_table(rows, ("metric", interval, "floor (train vs test)"))


def _spectra(inputs: Inputs) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Spectral distance of samples (and of the floor's train images) from the test images, and the plot rows."""
    from genqc.metrics.spectral import SPECTRAL_DISTANCE, spectral_distance

    report = spectral_distance(inputs.pixels("test"), inputs.pixels("samples"))
    floor = spectral_distance(inputs.pixels("test"), inputs.pixels("floor"))
    metrics = {SPECTRAL_DISTANCE: report.summary[SPECTRAL_DISTANCE],
               SPECTRAL_DISTANCE + FLOOR: floor.summary[SPECTRAL_DISTANCE]}  # fmt: skip
    rows = [{"frequency": int(f), "real": float(r), "generated": float(g)}
            for f, r, g in zip(report.radius, report.real_spectrum, report.fake_spectrum, strict=True)]  # fmt: skip
    return metrics, rows


def main(args: argparse.Namespace) -> int:
    from genqc.gates import evaluate_gates, gate_rows, verdicts
    from genqc.training.device import resolve_device

    params = params_from_args(args)
    family = args.model or params.train.model
    cfg = params.evaluate
    device = resolve_device(cfg.device, key="evaluate.device")
    inputs = Inputs(params, family)
    metrics: dict[str, Any] = {"model": family, "n_samples": len(inputs.samples), "n_test": len(inputs.test),
                               "n_train": len(inputs.train), **_sample_summary(family)}  # fmt: skip
    prdc_rows, class_rows, nearest = [], [], pd.DataFrame()
    for name in dict.fromkeys([*cfg.extractors, *(["classifier"] if cfg.classifier else [])]):
        extractor = _extractor(name, cfg)
        roles = ["test", "samples", "floor"] + (["train"] if name == "classifier" else [])
        feats = {role: _features(extractor, inputs, role, cfg, device) for role in roles}
        if name in cfg.extractors:
            space = extractor.space
            scores = _distances(feats["test"], feats["samples"], space, params, bootstrap=True)
            floor = _distances(feats["test"], feats["floor"], space, params, bootstrap=False)
            metrics.update(_with_floor(scores, floor))
            _fd_ratio(metrics, space)
            prdc_rows += [{"metric": f"{m}_{space}", "value": scores[f"{m}_{space}"], "floor": floor[f"{m}_{space}"]}
                          for m in ("precision", "recall", "density", "coverage")]  # fmt: skip
        if name == "classifier" and cfg.classifier:
            extra, class_rows, nearest = _classifier_metrics(inputs, feats, params)
            metrics.update(extra)
    spectral, spectrum_rows = _spectra(inputs)
    metrics.update(spectral)
    if family == "vae":
        metrics.update(_reconstruction(inputs, family, device))

    write_json(class_rows, plots_dir(family) / "class_histogram.json")
    write_json(spectrum_rows, plots_dir(family) / "spectrum.json")
    write_json(prdc_rows, plots_dir(family) / "prdc.json")
    write_parquet(nearest, nearest_path(family))
    try:
        results = evaluate_gates(metrics, maxima=params.gates.max, minima=params.gates.min,
                                 conservative=params.gates.conservative)  # fmt: skip
    except ConfigError:
        write_json(metrics, metrics_path(family))  # the measured numbers stay inspectable; no verdicts
        raise
    metrics.update(verdicts(results))
    write_json(metrics, metrics_path(family))

    print(f"evaluate {family}: {len(inputs.samples)} samples vs {len(inputs.test)} test images (floor: "
          f"{len(inputs.floor)} train images), extractors {', '.join(cfg.extractors)}, on {device}")  # fmt: skip
    _print_metrics(metrics, cfg.ci_level, cfg.bootstrap)
    print()
    print_table(gate_rows(results), ("gate", "value [interval]", "limit", "verdict"))
    print(f"-> {metrics_path(family)}")
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"{r.name}: {row[1]} (limit {r.condition})" for r, row in zip(failed, gate_rows(failed), strict=True)]
        message = f"{len(failed)} of {len(results)} quality gate(s) failed for {family}:\n  " + "\n  ".join(lines)
        if params.gates.fail:
            raise GateFailure(message + "\n(set gates.fail: false to record verdicts without failing)")
        print(f"WARNING: {message}\n(gates.fail=false: exit 0)")
    return 0
