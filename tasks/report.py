"""DVC stage ``report``: every stage's outputs -> reports/report.html, one self-contained page.

The page shows whatever exists: a user may run ``genqc report`` after only some
stages, and each absent part is listed with the stage that makes it. ``--model X``
reports that family alone; the default is every family in ``train.models``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from genqc.io import write_text
from genqc.report.html import render, verdict_state
from genqc.report.load import FamilyOutputs, Loader, ReportData, revision
from tasks.common import (
    AUGMENT_DIR,
    CLASSIFIER_DIR,
    EVALUATE_DIR,
    EVALUATE_REPORTS,
    INGEST_DIR,
    REPORTS,
    SAMPLE_DIR,
    SAMPLE_REPORTS,
    TRAIN_REPORTS,
    VALIDATE_DIR,
    VALIDATION_REPORTS,
    params_from_args,
    print_table,
)

REPORT = REPORTS / "report.html"
DATA_DOCS = VALIDATION_REPORTS / "docs" / "index.html"


def _family(loader: Loader, name: str, *, nearest: int, per_class: int, class_names: dict[int, str]) -> FamilyOutputs:
    train, sample, evaluate = f"run `dvc repro train@{name}`", f"run `dvc repro sample@{name}`", \
        f"run `dvc repro evaluate@{name}`"  # fmt: skip
    plots = EVALUATE_REPORTS / name / "plots"
    return FamilyOutputs(
        name=name,
        metrics=loader.json_dict(EVALUATE_REPORTS / name / "metrics.json", "metrics", evaluate),
        curves=loader.curves(TRAIN_REPORTS / name / "plots" / "metrics", "curves", train),
        train_grid_png=loader.png(TRAIN_REPORTS / name / "samples.png", "samples", train),
        sample_grid_png=loader.png(SAMPLE_REPORTS / name / "grid.png", "samples", sample),
        class_rows=loader.class_rows(SAMPLE_DIR / name / "samples.parquet", per_class=per_class,
                                     class_names=class_names),
        sample_summary=loader.json_dict(SAMPLE_REPORTS / name / "summary.json", "samples", sample),
        class_histogram=loader.json_rows(plots / "class_histogram.json", "classes", evaluate),
        spectrum=loader.json_rows(plots / "spectrum.json", "spectra", evaluate),
        prdc=loader.json_rows(plots / "prdc.json", "prdc", evaluate),
        nearest=loader.nearest(EVALUATE_DIR / name / "nearest.parquet", "memorization", evaluate, limit=nearest),
    )


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    params_file = Path(getattr(args, "params", "params.yaml"))
    families = [args.model] if getattr(args, "model", None) else list(params.train.models)
    loader = Loader()
    class_names = loader.class_names(VALIDATE_DIR / "train.parquet") or loader.class_names(INGEST_DIR / "train.parquet")
    outputs = [_family(loader, name, nearest=params.evaluate.nearest, per_class=params.sample.grid,
                       class_names=class_names) for name in families]  # fmt: skip
    data = ReportData(
        families=outputs,
        primary=params.train.model,
        validation=loader.json_dict(VALIDATION_REPORTS / "summary.json", "validation", "run `dvc repro validate`"),
        data_docs_href=os.path.relpath(DATA_DOCS, REPORT.parent) if DATA_DOCS.is_file() else None,
        ingest_summary=loader.json_dict(INGEST_DIR / "summary.json", "validation", "run `dvc repro ingest`"),
        augment_summary=loader.json_dict(AUGMENT_DIR / "summary.json", "validation", "run `dvc repro augment`"),
        classifier_metrics=loader.json_dict(CLASSIFIER_DIR / "metrics.json", "metrics", "run `dvc repro classifier`"),
        class_names=class_names,
        gate_limits={"max": dict(params.gates.max), "min": dict(params.gates.min)},
        params_text=params_file.read_text(encoding="utf-8") if params_file.is_file() else "",
        revision=revision(Path.cwd()),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        missing=loader.missing,
    )
    page = render(data)
    write_text(page, REPORT)

    print(f"report -> {REPORT} ({len(page.encode()) / 1024:.0f} KiB, self-contained)")
    print_table([(f.name, verdict_state(f).upper()) for f in outputs], ("family", "gates"))
    if loader.missing:
        print(f"\n{len(loader.missing)} input(s) missing; the page lists them:")
        print_table([(m.section, m.path, m.reason) for m in loader.missing[:15]], ("section", "file", "why"))
        if len(loader.missing) > 15:
            print(f"... and {len(loader.missing) - 15} more")
    return 0
