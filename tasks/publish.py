"""DVC stage ``publish``: the primary family's metrics (train.model) -> reports/metrics.json.

Every family's evaluation lands in reports/evaluate/<family>/metrics.json; the
contract path reports/metrics.json holds the one a user asked for with
``train.model``, so ``dvc exp run -S train.model=vae`` and ``dvc metrics diff``
compare the model each experiment is about. The copy is exact, plus ``model``.
"""

from __future__ import annotations

import argparse
import json

from genqc.errors import DataError
from genqc.io import write_json
from tasks.common import params_from_args
from tasks.paths import METRICS_FILE, metrics_path


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    family = params.train.model
    source = metrics_path(family)
    if not source.is_file():
        raise FileNotFoundError(
            f"{source} not found: train.model={family!r} has not been evaluated; run "
            f"`dvc repro evaluate@{family}` (train.models must list {family!r})"
        )
    try:
        metrics = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{source} is not valid JSON ({exc}); rerun `dvc repro evaluate@{family}`") from None
    metrics["model"] = family
    write_json(metrics, METRICS_FILE)
    passed = metrics.get("gates_passed")
    print(f"publish {family}: {source} -> {METRICS_FILE} ({len(metrics)} keys, gates_passed={passed})")
    return 0
