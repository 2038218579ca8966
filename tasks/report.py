"""DVC stage ``report``: every stage's outputs -> reports/report.html, one self-contained page.

The page shows whatever exists: a user may run ``genqc report`` after only some
stages, and each absent part is listed with the stage that makes it. ``--model X``
reports that family alone; the default is every family in ``train.models``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import subprocess
from pathlib import Path

from genqc.io import write_text
from genqc.report.html import render, verdict_state
from genqc.report.load import FamilyOutputs, Loader, ReportData, Revision
from tasks.common import params_from_args, print_table
from tasks.paths import (
    AUGMENT_SUMMARY,
    CLASSIFIER_METRICS,
    DATA_DOCS,
    INGEST_SUMMARY,
    INGEST_TRAIN,
    REPORT,
    VALIDATED_TRAIN,
    VALIDATION_SUMMARY,
    metrics_path,
    nearest_path,
    plot_path,
    sample_grid_path,
    sample_summary_path,
    samples_path,
    train_curves_dir,
    train_grid_path,
)

DATA_DOCS_INDEX = DATA_DOCS / "index.html"


def revision(repo: Path) -> Revision:
    """git HEAD and dirty flag (None without git or outside a repository) and dvc.lock's SHA-256."""
    repo = Path(repo)
    commit = dirty = None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            commit = head.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=30,
            )
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass  # no git binary, or it hung: the report says "unknown"
    lock = repo / "dvc.lock"
    lock_hash = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None
    return Revision(commit, dirty, lock_hash)


def _family(loader: Loader, name: str, *, nearest: int, per_class: int, class_names: dict[int, str]) -> FamilyOutputs:
    train, sample, evaluate = (
        f"run `dvc repro train@{name}`",
        f"run `dvc repro sample@{name}`",
        f"run `dvc repro evaluate@{name}`",
    )
    return FamilyOutputs(
        name=name,
        metrics=loader.json_dict(metrics_path(name), "metrics", evaluate),
        curves=loader.curves(train_curves_dir(name), "curves", train),
        train_grid_png=loader.png(train_grid_path(name), "samples", train),
        sample_grid_png=loader.png(sample_grid_path(name), "samples", sample),
        class_rows=loader.class_rows(samples_path(name), per_class=per_class, class_names=class_names),
        sample_summary=loader.json_dict(sample_summary_path(name), "samples", sample),
        class_histogram=loader.json_rows(plot_path(name, "class_histogram"), "classes", evaluate),
        spectrum=loader.json_rows(plot_path(name, "spectrum"), "spectra", evaluate),
        prdc=loader.json_rows(plot_path(name, "prdc"), "prdc", evaluate),
        nearest=loader.nearest(nearest_path(name), "memorization", evaluate, limit=nearest),
    )


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    params_file = Path(getattr(args, "params", "params.yaml"))
    families = [args.model] if getattr(args, "model", None) else list(params.train.models)
    loader = Loader()
    class_names = loader.class_names(VALIDATED_TRAIN) or loader.class_names(INGEST_TRAIN)
    outputs = [
        _family(loader, name, nearest=params.evaluate.nearest, per_class=params.sample.grid, class_names=class_names)
        for name in families
    ]
    data = ReportData(
        families=outputs,
        primary=params.train.model,
        validation=loader.json_dict(VALIDATION_SUMMARY, "validation", "run `dvc repro validate`"),
        data_docs_href=os.path.relpath(DATA_DOCS_INDEX, REPORT.parent) if DATA_DOCS_INDEX.is_file() else None,
        ingest_summary=loader.json_dict(INGEST_SUMMARY, "validation", "run `dvc repro ingest`"),
        augment_summary=loader.json_dict(AUGMENT_SUMMARY, "validation", "run `dvc repro augment`"),
        classifier_metrics=loader.json_dict(CLASSIFIER_METRICS, "metrics", "run `dvc repro classifier`"),
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
