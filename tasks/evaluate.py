"""DVC stage ``evaluate@<family>``: samples vs real images -> metrics with intervals and floors, plots, gates.

params -> the image tables, extractors and the features stage's store of the real
sets' features -> ``genqc.evaluate`` (every rule of evaluation lives there; it
extracts only the samples, and any real set the store does not hold verified)
-> metrics.json, plot rows and the nearest pairs,
written atomically -> a one-screen summary and the gates. A failed gate exits 1
only after every output is written, so the failing run can still be inspected.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from genqc.config import Params
from genqc.data.table import read_table
from genqc.errors import ConfigError, GateFailure
from genqc.evaluation.errors import EvaluationSettingsError
from genqc.evaluation.evaluator import evaluate
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.keys import FLOOR, QUALIFIERS, RECONSTRUCTING_FAMILIES
from genqc.evaluation.reconstruction import model_reconstructor
from genqc.evaluation.result import EvaluationResult
from genqc.features.cache import FeatureCache
from genqc.gates import evaluate_gates, format_number, format_value, gate_rows, verdicts
from genqc.io import write_json, write_parquet
from genqc.training.checkpoint import EMA_FILE, load_checkpoint
from genqc.training.device import resolve_device
from tasks.common import evaluation_extractors, params_from_args, print_table
from tasks.paths import (
    FEATURE_STORE,
    VALIDATED_TEST,
    VALIDATED_TRAIN,
    checkpoints_dir,
    metrics_path,
    nearest_path,
    plot_path,
    sample_summary_path,
    samples_path,
)


def _reconstructor(family: str, device: Any) -> Any:
    """The family's reconstruction function, for the families that encode (the VAE); None for the others."""
    if family not in RECONSTRUCTING_FAMILIES:
        return None
    return model_reconstructor(load_checkpoint(checkpoints_dir(family) / EMA_FILE, device=device), device)


def _sample_summary(family: str) -> dict[str, Any]:
    path = sample_summary_path(family)
    return json.loads(path.read_text()) if path.is_file() else {}


def run(params: Params, family: str, device: Any) -> EvaluationResult:
    """Read the stage's inputs and evaluate; sizes too small for the settings are config errors naming the keys.

    A metric that gives no finite number for these images is a data failure (exit 1), raised
    by the library as MetricFailure naming the metric.
    """
    cfg = params.evaluate
    extractors, classifier = evaluation_extractors(cfg)
    samples = EvalSet.from_table(read_table(str(samples_path(family))))
    if len(samples) < 2:
        raise ConfigError(
            f"{samples_path(family)} holds {len(samples)} sample(s); metrics need at least 2 (raise sample.n)"
        )
    try:
        return evaluate(
            samples,
            EvalSet.from_table(read_table(str(VALIDATED_TEST))),
            train=EvalSet.from_table(read_table(str(VALIDATED_TRAIN))),
            extractors=extractors,
            classifier=classifier,
            seed=params.seed,
            **cfg.evaluate_options(),
            device=device,
            # the features stage's store: the real sets' features, verified on load; evaluate never writes to it
            feature_cache=FeatureCache(FEATURE_STORE, read_only=True),
            reconstruct=_reconstructor(family, device),
            reconstruction_batch_size=cfg.batch_size,
            sampling=_sample_summary(family),
        )
    except EvaluationSettingsError as exc:  # too few samples for k, for instance: fixed in params.yaml
        raise ConfigError(
            f"{exc} (evaluate.k_prc={cfg.k_prc}, evaluate.k_dc={cfg.k_dc}, evaluate.max_test={cfg.max_test}, "
            f"sample.n={params.sample.n}, evaluate.fd_inf={list(cfg.fd_inf)})"
        ) from None


def _print_metrics(metrics: dict[str, Any], level: float, n_boot: int) -> None:
    rows = []
    for key, value in metrics.items():
        if (
            key.endswith(QUALIFIERS)
            or key.startswith("gate")
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            continue
        shown = format_value(value, metrics.get(key + "_ci_low"), metrics.get(key + "_ci_high"))
        rows.append((key, shown, format_number(metrics.get(key + FLOOR)) if key + FLOOR in metrics else ""))
    interval = f"value [{level:.0%} bootstrap interval, {n_boot} resamples]" if n_boot else "value"
    print_table(rows, ("metric", interval, "floor (train vs test)"))


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    family = args.model or params.train.model
    cfg = params.evaluate
    device = resolve_device(cfg.device, key="evaluate.device")
    result = run(params, family, device)
    metrics: dict[str, Any] = {"model": family, **result.metrics}

    write_json(result.class_histogram, plot_path(family, "class_histogram"))
    write_json(result.spectrum, plot_path(family, "spectrum"))
    write_json(result.prdc, plot_path(family, "prdc"))
    write_parquet(result.nearest, nearest_path(family))
    try:
        results = evaluate_gates(
            metrics, maxima=params.gates.max, minima=params.gates.min, conservative=params.gates.conservative
        )
    except ConfigError:
        write_json(metrics, metrics_path(family))  # the measured numbers stay inspectable; no verdicts
        raise
    metrics.update(verdicts(results))
    write_json(metrics, metrics_path(family))

    print(
        f"evaluate {family}: {metrics['n_samples']} samples vs {metrics['n_test']} test images (floor: "
        f"{result.floor_size} train images), extractors {', '.join(cfg.extractors)}, on {device}"
    )
    _print_metrics(metrics, cfg.ci_level, cfg.bootstrap)
    for note in result.notes:
        print(f"NOTE: {note} (sample.n, evaluate.max_test)")
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
