"""What a pipeline run shows in the Prefect UI: validation summary, metrics, sample grid, report link.

The builders are pure (file contents in, markdown or table rows out) so they are
tested without a server; :func:`publish_run_artifacts` is the one task that reads
the stage outputs and creates the artifacts. A missing output (its stage is not
in dvc.yaml yet, or did not run) becomes an artifact saying so, never an error:
a run that failed at validation still shows the validation summary.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import run_logger
from genqc.experiments import flatten_keys

VALIDATION_SUMMARY = Path("reports/validation/summary.json")
METRICS = Path("reports/metrics.json")
REPORT = Path("reports/report.html")
# Where the sample and train stages write a grid of generated images, final samples first;
# within a pattern the newest file wins (the family this run trained or sampled).
SAMPLE_GRIDS = ("reports/samples.png", "reports/sample/*/grid.png", "reports/train/*/samples.png")
MAX_INLINE_BYTES = 2_000_000  # a data: URI above this bloats the Prefect database; link it instead
CI_SUFFIXES = ("_ci_low", "_ci_high")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def validation_markdown(summary: dict[str, Any], source: str = str(VALIDATION_SUMMARY)) -> str:
    """The validation summary as markdown: scalars as a key/value table, each list of records as a table.

    The validate stage owns the JSON's shape; this renders any mapping faithfully rather
    than picking fields, so a new check shows up without a change here.
    """
    scalars = flatten_keys({k: v for k, v in summary.items() if not isinstance(v, list)})
    parts = [f"# Data validation\n\nFrom `{source}`.\n"]
    if scalars:
        parts.append(_markdown_table([{"key": k, "value": v} for k, v in scalars.items()]))
    for key, value in summary.items():
        if isinstance(value, list) and value:
            records = [flatten_keys(v) if isinstance(v, dict) else {"value": v} for v in value]
            parts.append(f"\n## {key}\n\n" + _markdown_table(records))
    return "\n".join(parts) + "\n"


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric with its interval, then one per gate verdict (any key containing ``gate``).

    ``fd_classifier``, ``fd_classifier_ci_low`` and ``fd_classifier_ci_high`` become one row
    ``{key, value, ci_low, ci_high, kind: "metric"}``; interval keys never appear on their own.
    """
    flat = flatten_keys(metrics)
    rows, gates = [], []
    for key, value in flat.items():
        if key.endswith(CI_SUFFIXES) and key.rsplit("_ci_", 1)[0] in flat:
            continue
        if "gate" in key:
            gates.append({"key": key, "value": value, "ci_low": None, "ci_high": None, "kind": "gate"})
            continue
        rows.append({"key": key, "value": value, "ci_low": flat.get(f"{key}_ci_low"),
                     "ci_high": flat.get(f"{key}_ci_high"), "kind": "metric"})  # fmt: skip
    return rows + gates


def find_sample_grid(root: Path) -> Path | None:
    """The newest image grid the train/sample stages wrote, searching :data:`SAMPLE_GRIDS` in order."""
    for pattern in SAMPLE_GRIDS:
        found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return found[0]
    return None


def image_markdown(path: Path, root: Path) -> str:
    """Markdown showing ``path`` inline as a data: URI (the Prefect UI cannot read local files)."""
    data = path.read_bytes()
    relative = path.relative_to(root)
    if len(data) > MAX_INLINE_BYTES:
        return (f"# Samples\n\n`{relative}` is {len(data):,} bytes, over the {MAX_INLINE_BYTES:,}-byte inline "
                f"limit; open it at {path.resolve().as_uri()}\n")  # fmt: skip
    encoded = base64.b64encode(data).decode("ascii")
    return f"# Samples\n\nFrom `{relative}`.\n\n![samples](data:image/png;base64,{encoded})\n"


def _read_json(path: Path, missing: str) -> tuple[dict[str, Any] | None, str]:
    """(the JSON object, "") or (None, why not): ``missing`` when there is no file, else the read error."""
    if not path.is_file():
        return None, missing
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"could not read `{path}`: {exc}"
    if not isinstance(data, dict):
        return None, f"`{path}` holds a {type(data).__name__}, not a JSON object"
    return data, ""


@task(name="publish-run-artifacts", cache_policy=NO_CACHE)
def publish_run_artifacts(repo_dir: str = ".") -> list[str]:
    """Create the run's artifacts from whatever stage outputs exist; return the notes about missing ones."""
    logger = run_logger()
    root = Path(repo_dir).resolve()
    notes: list[str] = []

    def skip(key: str, note: str) -> None:
        notes.append(note)
        logger.info("artifact %s skipped: %s", key, note)
        create_markdown_artifact(f"_{note}_", key=key, description="not available in this run")

    missing = f"no validation summary at {VALIDATION_SUMMARY} (validate stage not run)"
    summary, problem = _read_json(root / VALIDATION_SUMMARY, missing)
    if summary is None:
        skip("genqc-validation", problem)
    else:
        create_markdown_artifact(validation_markdown(summary), key="genqc-validation",
                                 description="data validation summary")  # fmt: skip

    metrics, problem = _read_json(root / METRICS, f"no metrics at {METRICS} (evaluate stage not run)")
    if metrics is None:
        skip("genqc-metrics", problem)
    else:
        create_table_artifact(metric_rows(metrics), key="genqc-metrics",
                              description="metrics with confidence intervals and gate verdicts")  # fmt: skip

    grid = find_sample_grid(root)
    if grid is not None:
        create_markdown_artifact(image_markdown(grid, root), key="genqc-samples", description="generated samples")
    else:
        skip("genqc-samples", f"no sample grid ({' or '.join(SAMPLE_GRIDS)}); train/sample stages not run")

    report = root / REPORT
    if report.is_file():
        create_link_artifact(report.as_uri(), link_text=str(REPORT), key="genqc-report",
                             description="the HTML report of this run")  # fmt: skip
    else:
        skip("genqc-report", f"no report at {REPORT} (report stage not run)")
    return notes
