"""What a pipeline run shows in the Prefect UI: validation summary, metrics, sample grid, report verdict.

The builders are pure (file contents in, markdown or table rows out) so they are
tested without a server; :func:`publish_run_artifacts` is the one task that reads
the stage outputs and creates the artifacts. Artifacts tell the truth:

- an artifact is published only when the stage that writes its source ran in this
  run (its base name is among the run's stages), so a partial run (validate only)
  never replaces the last good metrics, samples or report with a placeholder;
  a missing output becomes a note in the run's log and result instead;
- the sample grid is the primary family's (``train.model``), labelled with it;
- the report is its verdict and headline metrics with their intervals, in markdown
  (a ``file://`` link means nothing on another host and the UI blocks it).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import run_logger
from flows.dvc_pipeline import base_name
from flows.experiments import flatten_keys
from genqc.config import load_params

VALIDATION_SUMMARY = Path("reports/validation/summary.json")
METRICS = Path("reports/metrics.json")  # the primary family's metrics and gate verdicts (publish stage)
REPORT = Path("reports/report.html")
# The primary family's grids, final samples first: {model} is train.model.
SAMPLE_GRIDS = ("reports/sample/{model}/grid.png", "reports/train/{model}/samples.png")
MAX_INLINE_BYTES = 2_000_000  # a data: URI above this bloats the Prefect database; it is named, not shown
CI_SUFFIXES = ("_ci_low", "_ci_high")
# Which stage writes each artifact's source: the artifact is refreshed only by a run of that stage.
PRODUCERS = {
    "genqc-validation": "validate",
    "genqc-metrics": "publish",
    "genqc-samples": "sample",
    "genqc-report": "report",
}


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
        rows.append(
            {
                "key": key,
                "value": value,
                "ci_low": flat.get(f"{key}_ci_low"),
                "ci_high": flat.get(f"{key}_ci_high"),
                "kind": "metric",
            }
        )
    return rows + gates


def find_sample_grid(root: Path, model: str) -> Path | None:
    """The primary family's grid: the sample stage's, else the train stage's last one (:data:`SAMPLE_GRIDS`)."""
    for pattern in SAMPLE_GRIDS:
        path = root / pattern.format(model=model)
        if path.is_file():
            return path
    return None


def image_markdown(path: Path, root: Path, model: str) -> str:
    """Markdown showing ``path`` inline as a data: URI (the Prefect UI cannot read the worker's files)."""
    data = path.read_bytes()
    relative = path.relative_to(root)
    title = f"# Samples: {model} (train.model, the primary family)\n\nFrom `{relative}`"
    if len(data) > MAX_INLINE_BYTES:
        return f"{title}: {len(data):,} bytes, over the {MAX_INLINE_BYTES:,}-byte inline limit of this artifact.\n"
    encoded = base64.b64encode(data).decode("ascii")
    return f"{title}.\n\n![{model} samples](data:image/png;base64,{encoded})\n"


def report_markdown(metrics: dict[str, Any], validation: dict[str, Any] | None, model: str) -> str:
    """The report's verdict and headline metrics (each with its interval) as markdown.

    The verdict is the gates' (``gates_passed`` in metrics.json) and the data validation's
    (``passed`` in its summary); the headline metrics are those that carry an interval.
    """
    gates_passed = metrics.get("gates_passed")
    verdict = {True: "PASS", False: "FAIL"}.get(gates_passed, "UNKNOWN (no gate verdicts recorded)")
    failed = [k.removeprefix("gate_") for k, v in metrics.items() if k.startswith("gate_") and v is False]
    lines = [f"# genqc report: {verdict}", "", f"Primary family: **{model}** (train.model)."]
    if failed:
        lines.append("Failed gates: " + ", ".join(f"`{name}`" for name in failed) + ".")
    if validation is not None and isinstance(validation.get("passed"), bool):
        lines.append(f"Data validation: {'passed' if validation['passed'] else 'FAILED'}.")
    headline = [r for r in metric_rows(metrics) if r["kind"] == "metric" and r["ci_low"] is not None]
    if headline:
        lines += ["", "| metric | value | 95% interval |", "|---|---|---|"]
        lines += [
            f"| {r['key']} | {_cell(r['value'])} | [{_cell(r['ci_low'])}, {_cell(r['ci_high'])}] |" for r in headline
        ]
    lines += ["", f"The full page is `{REPORT}` in the run's checkout (a DVC output: `dvc pull` fetches it)."]
    return "\n".join(lines) + "\n"


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


def ran_in(stages: list[str] | None, key: str) -> bool:
    """Whether the run's stages include the one that writes ``key``'s source (None: every stage ran)."""
    return stages is None or PRODUCERS[key] in {base_name(s) for s in stages}


@task(name="publish-run-artifacts", cache_policy=NO_CACHE)
def publish_run_artifacts(repo_dir: str = ".", stages: list[str] | None = None, model: str | None = None) -> list[str]:
    """Create the artifacts of the outputs this run's ``stages`` wrote; return notes on the missing ones.

    An artifact whose stage is not among ``stages`` is left as it was (the last run that made it);
    one whose stage ran but left no output is noted, never replaced by a placeholder.
    ``model`` is the primary family (default: train.model in params.yaml).
    """
    logger = run_logger()
    root = Path(repo_dir).resolve()
    model = model or load_params(root / "params.yaml").train.model
    notes: list[str] = []

    def note(key: str, text: str) -> None:
        notes.append(text)
        logger.warning("artifact %s not updated: %s", key, text)

    if ran_in(stages, "genqc-validation"):
        summary, problem = _read_json(root / VALIDATION_SUMMARY, f"no validation summary at {VALIDATION_SUMMARY}")
        if summary is None:
            note("genqc-validation", problem)
        else:
            create_markdown_artifact(
                validation_markdown(summary), key="genqc-validation", description="data validation summary"
            )

    metrics, problem = _read_json(root / METRICS, f"no metrics at {METRICS}")
    if ran_in(stages, "genqc-metrics"):
        if metrics is None:
            note("genqc-metrics", problem)
        else:
            described = f"{model}: metrics with confidence intervals and gate verdicts"
            create_table_artifact(metric_rows(metrics), key="genqc-metrics", description=described)

    if ran_in(stages, "genqc-samples"):
        grid = find_sample_grid(root, model)
        if grid is None:
            wanted = " or ".join(p.format(model=model) for p in SAMPLE_GRIDS)
            note("genqc-samples", f"no sample grid for {model} ({wanted})")
        else:
            create_markdown_artifact(
                image_markdown(grid, root, model), key="genqc-samples", description=f"{model}: generated samples"
            )

    if ran_in(stages, "genqc-report"):
        if not (root / REPORT).is_file() or metrics is None:
            note("genqc-report", f"no report at {REPORT}" if metrics is not None else problem)
        else:
            validation, _ = _read_json(root / VALIDATION_SUMMARY, "")
            create_markdown_artifact(
                report_markdown(metrics, validation, model),
                key="genqc-report",
                description=f"{model}: verdict and headline metrics",
            )
    return notes
