"""Render :class:`~genqc.report.load.ReportData` as one self-contained HTML page.

Self-contained means one file a reviewer can e-mail or open offline: CSS inline,
images as ``data:`` URIs, no scripts, no fonts or anything else fetched. Every
string that comes from data or params goes through :func:`esc` (a class named
``<script>`` must show as text, never run). Colour is never the only signal: each
verdict also says PASS or FAIL in words.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable
from typing import Any

from genqc.report import plots
from genqc.report.load import FamilyOutputs, Missing, ReportData

QUALIFIERS = ("_ci_low", "_ci_high", "_se", "_std", "_floor")
# Section ids are an interface: tests and links (report.html#metrics) rely on them.
SECTIONS = (
    ("verdict", "Verdict"),
    ("samples", "Samples"),
    ("curves", "Training curves"),
    ("metrics", "Metrics"),
    ("prdc", "Precision / recall / density / coverage"),
    ("classes", "Class balance"),
    ("spectra", "Power spectra"),
    ("memorization", "Memorisation"),
    ("validation", "Data validation"),
    ("params", "Params and revision"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1f2328;
background:#fff;line-height:1.45}
header,main{max-width:1200px;margin:0 auto;padding:0 24px}
header{padding-top:16px}
h1{font-size:1.6em;margin:0.2em 0}h2{font-size:1.3em;border-bottom:1px solid #d0d7de;padding-bottom:4px;
margin-top:1.6em}h3{font-size:1.05em;margin:1em 0 0.4em}
nav ul{list-style:none;padding:0;margin:8px 0;display:flex;flex-wrap:wrap;gap:4px 14px}
a{color:#0550ae}
.meta{color:#57606a;font-size:0.9em}
.banner{border-radius:8px;padding:12px 16px;margin:12px 0;border:2px solid}
.banner.pass{background:#dafbe1;border-color:#1a7f37}.banner.fail{background:#ffebe9;border-color:#cf222e}
.banner.unknown{background:#f6f8fa;border-color:#8c959f}
.banner ul{margin:6px 0 0 0;padding-left:20px}
.tag{display:inline-block;font-weight:700;border-radius:4px;padding:0 6px;margin-right:6px;color:#fff}
.tag.pass{background:#1a7f37}.tag.fail{background:#cf222e}.tag.unknown,.tag.warning{background:#6e7781}
.tag.warning{background:#9a6700}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 14px;margin:12px 0}
.notice li{font-size:0.92em}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
caption{text-align:left;color:#57606a;font-size:0.9em;padding:2px 0}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.pass{background:#dafbe1}td.fail{background:#ffebe9}
.floor{display:block;color:#57606a;font-size:0.85em}
figure{margin:8px 0 16px 0}figcaption{color:#57606a;font-size:0.88em}
img.plot{max-width:100%;height:auto;border:1px solid #d0d7de}
img.grid{image-rendering:pixelated;width:320px;max-width:100%;height:auto;border:1px solid #d0d7de}
img.tile{image-rendering:pixelated;width:48px;height:48px;margin:1px}
img.pair{image-rendering:pixelated;width:64px;height:64px;margin-right:2px}
.pairs{display:flex;flex-wrap:wrap;gap:10px;list-style:none;padding:0;margin:8px 0}
.pairs li{border:1px solid #d0d7de;border-radius:6px;padding:6px;font-size:0.82em;text-align:center}
.pairs li.copy{border:2px solid #cf222e;background:#ffebe9}
.grids{display:flex;flex-wrap:wrap;gap:24px}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow-x:auto;font-size:0.85em}
"""


def esc(value: Any) -> str:
    """HTML-escape any value's text (quotes too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def fmt(value: Any) -> str:
    """Numbers to four significant digits; everything else as text; missing as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):  # e.g. the sample summary's latent_scale per source
        return ", ".join(f"{key} {fmt(item)}" for key, item in value.items())
    return str(value)


def _img(png: bytes | None, alt: str, cls: str) -> str:
    if not png:
        return ""
    return f'<img class="{cls}" src="{data_uri(png)}" alt="{esc(alt)}">'


def _figure(png: bytes | None, alt: str, caption: str) -> str:
    if png is None:
        return ""
    return f"<figure>{_img(png, alt, 'plot')}<figcaption>{esc(caption)}</figcaption></figure>"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], caption: str = "") -> str:
    """Cells are trusted HTML (callers escape data); header strings are escaped here."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _missing_list(items: list[Missing]) -> str:
    if not items:
        return ""
    lines = "".join(
        f"<li><strong>{esc(m.section)}</strong>: <code>{esc(m.path)}</code> {esc(m.reason)}; {esc(m.remedy)}</li>"
        for m in items
    )
    return f'<div class="notice" role="note"><ul>{lines}</ul></div>'


def _section(section_id: str, body: str, data: ReportData, *, sections: tuple[str, ...] = ()) -> str:
    title = dict(SECTIONS)[section_id]
    missing = [m for m in data.missing if m.section in (sections or (section_id,))]
    if not body.strip():
        body = "<p>Nothing to show: the stage that makes this section has not run.</p>"
    return (
        f'<section id="{section_id}" aria-labelledby="{section_id}-title"><h2 id="{section_id}-title">'
        f"{esc(title)}</h2>{_missing_list(missing)}{body}</section>"
    )


# --------------------------------------------------------------------------- verdict
def _gate_results(metrics: dict[str, Any]) -> list[tuple[str, bool]]:
    return [
        (k.removeprefix("gate_"), bool(v)) for k, v in metrics.items() if k.startswith("gate_") and isinstance(v, bool)
    ]


def verdict_state(family: FamilyOutputs) -> str:
    """pass | fail | unknown (not evaluated, or no gates recorded)."""
    if not family.metrics or not isinstance(family.metrics.get("gates_passed"), bool):
        return "unknown"
    return "pass" if family.metrics["gates_passed"] else "fail"


def _verdict(data: ReportData) -> str:
    items, states = [], []
    for family in data.families:
        state = verdict_state(family)
        states.append(state)
        primary = " (primary)" if family.name == data.primary else ""
        if state == "unknown":
            why = "not evaluated" if not family.metrics else "no gate verdicts recorded"
            items.append(f'<li><span class="tag unknown">N/A</span>{esc(family.name)}{primary}: {why}</li>')
            continue
        gates = _gate_results(family.metrics or {})
        failed = [name for name, ok in gates if not ok]
        detail = f"{len(gates) - len(failed)} of {len(gates)} gates passed"
        if failed:
            detail += "; failed: " + ", ".join(f"<code>{esc(n)}</code>" for n in failed)
        word = "PASS" if state == "pass" else "FAIL"
        items.append(f'<li><span class="tag {state}">{word}</span>{esc(family.name)}{primary}: {detail}</li>')
    if data.validation is not None and isinstance(data.validation.get("passed"), bool):
        ok = data.validation["passed"]
        state = "pass" if ok else "fail"
        states.append(state)
        errors, warnings = data.validation.get("errors_failed", "?"), data.validation.get("warnings_failed", "?")
        word = "PASS" if ok else "FAIL"
        items.append(
            f'<li><span class="tag {state}">{word}</span>data validation: {esc(errors)} error-level and '
            f"{esc(warnings)} warning-level expectations failed</li>"
        )
    overall = "fail" if "fail" in states else "unknown" if ("unknown" in states or not states) else "pass"
    headline = {
        "pass": "All quality gates passed",
        "fail": "Quality gates FAILED",
        "unknown": "Incomplete: some verdicts are missing",
    }[overall]
    return f'<div class="banner {overall}" role="status"><strong>{headline}</strong><ul>{"".join(items)}</ul></div>'


# --------------------------------------------------------------------------- samples and curves
def _samples(data: ReportData) -> str:
    parts = []
    for family in data.families:
        grids = []
        if family.class_rows:
            rows = "".join(
                f'<tr><th scope="row">{esc(name)}</th><td>'
                + "".join(_img(png, f"{family.name} sample of class {name}", "tile") for png in pngs)
                + "</td></tr>"
                for name, pngs in family.class_rows
            )
            grids.append(f"<div><table><caption>samples per class (conditional)</caption>{rows}</table></div>")
        elif family.sample_grid_png:
            grids.append(
                f"<figure>{_img(family.sample_grid_png, f'{family.name} sample grid', 'grid')}"
                "<figcaption>sample stage grid</figcaption></figure>"
            )
        if family.train_grid_png:
            image = _img(family.train_grid_png, f"{family.name} EMA samples during training", "grid")
            grids.append(
                f"<figure>{image}<figcaption>EMA samples at the end of training (fixed seed, latent scale 1)"
                "</figcaption></figure>"
            )
        summary = ""
        if family.sample_summary:
            keys = (
                "accepted",
                "requested",
                "drawn",
                "acceptance_rate",
                "filter",
                "use_ema",
                "latent_scale",
                "images_per_s",
            )
            summary = (
                "<p class=meta>"
                + ", ".join(
                    f"{esc(k)}: {esc(fmt(family.sample_summary[k]))}" for k in keys if k in family.sample_summary
                )
                + "</p>"
            )
        if grids or summary:
            parts.append(f"<h3>{esc(family.name)}</h3>{summary}<div class=grids>{''.join(grids)}</div>")
    return "".join(parts)


def _curves(data: ReportData) -> str:
    parts = []
    for family in data.families:
        png = plots.training_curves(family.curves, title=family.name) if family.curves else None
        parts.append(
            _figure(
                png,
                f"training curves of {family.name}",
                f"{family.name}: DVCLive histories ({len(family.curves)} series)",
            )
        )
    return "".join(parts)


# --------------------------------------------------------------------------- metrics
def headline_keys(families: list[FamilyOutputs]) -> list[str]:
    """Metric keys shown as rows: no intervals, floors or verdicts; gated keys first, then file order."""
    keys: dict[str, None] = {}
    for family in families:
        for key, value in (family.metrics or {}).items():
            skip = key.startswith("gate") or key.endswith(QUALIFIERS) or key == "model"
            if skip or isinstance(value, bool | dict | list):
                continue
            keys[key] = None
    gated = {
        k.removeprefix("gate_max_").removeprefix("gate_min_")
        for f in families
        for k in (f.metrics or {})
        if k.startswith(("gate_max_", "gate_min_"))
    }
    return [k for k in keys if k in gated] + [k for k in keys if k not in gated]


def _limit(data: ReportData, key: str) -> str:
    parts = []
    if key in data.gate_limits.get("max", {}):
        parts.append(f"&le; {esc(fmt(data.gate_limits['max'][key]))}")
    if key in data.gate_limits.get("min", {}):
        parts.append(f"&ge; {esc(fmt(data.gate_limits['min'][key]))}")
    return " and ".join(parts)


def _cell(metrics: dict[str, Any] | None, key: str) -> str:
    if not metrics or key not in metrics:
        return '<td class="num">&mdash;</td>'
    value = metrics[key]
    text = fmt(value)
    low, high = metrics.get(key + "_ci_low"), metrics.get(key + "_ci_high")
    if isinstance(low, int | float) and isinstance(high, int | float):
        text += f" [{fmt(low)}, {fmt(high)}]"
    floor = f'<span class="floor">floor {esc(fmt(metrics[key + "_floor"]))}</span>' if key + "_floor" in metrics else ""
    verdicts = [metrics[g] for g in (f"gate_max_{key}", f"gate_min_{key}") if isinstance(metrics.get(g), bool)]
    state = "" if not verdicts else " pass" if all(verdicts) else " fail"
    word = "" if not verdicts else f' <span class="tag{state}">{"PASS" if all(verdicts) else "FAIL"}</span>'
    return f'<td class="num{state}">{esc(text)}{word}{floor}</td>'


def _metrics(data: ReportData) -> str:
    evaluated = [f for f in data.families if f.metrics]
    if not evaluated:
        return ""
    rows = [
        [
            f'<th scope="row"><code>{esc(key)}</code></th>',
            f"<td>{_limit(data, key)}</td>",
            *(_cell(f.metrics, key) for f in evaluated),
        ]
        for key in headline_keys(evaluated)
    ]
    note = (
        "<p class=meta>Each score is <em>value [low, high]</em>, its bootstrap confidence interval where one "
        "was computed; <em>floor</em> is the same metric between the test images and as many training images "
        "(what a perfect generator would reach). Gated rows say PASS or FAIL against the limit.</p>"
    )
    extra = ""
    if data.classifier_metrics and "test_accuracy" in data.classifier_metrics:
        acc = data.classifier_metrics["test_accuracy"]
        extra = (
            f"<p>Evaluation classifier test accuracy: <strong>{esc(fmt(acc))}</strong> "
            "(the classifier's feature space is only as meaningful as this).</p>"
        )
        if data.classifier_metrics.get("evaluator_ok") is False:
            extra += (
                f'<p class="banner fail"><strong>WARNING:</strong> below classifier.min_accuracy='
                f"{esc(fmt(data.classifier_metrics.get('min_accuracy')))}: every classifier-space metric "
                "and gate is unreliable (evaluator_ok: false).</p>"
            )
    return note + extra + _table(["metric", "gate", *(f.name for f in evaluated)], rows)


def _family_plots(data: ReportData, attribute: str) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(f.name, getattr(f, attribute)) for f in data.families if getattr(f, attribute)]


# --------------------------------------------------------------------------- memorisation and validation
def _memorization(data: ReportData) -> str:
    parts = []
    for family in data.families:
        if family.nearest is None:
            continue
        if not family.nearest:
            parts.append(f"<h3>{esc(family.name)}</h3><p>No nearest-copy pairs recorded.</p>")
            continue
        cards = []
        for p in family.nearest:
            copy = ' <span class="tag fail">EXACT COPY</span>' if p.exact_copy else ""
            cards.append(
                f'<li class="{"copy" if p.exact_copy else ""}">'
                f"{_img(p.sample_png, f'{family.name} sample {p.sample_id}', 'pair')}"
                f"{_img(p.train_png, f'its nearest training image {p.train_id}', 'pair')}<br>"
                f"ratio {esc(fmt(p.ratio))} &middot; distance {esc(fmt(p.distance))}{copy}</li>"
            )
        memo = family.metrics or {}
        share = memo.get("memorization_near_copy_share")
        lead = f"near-copy share {esc(fmt(share))}; " if share is not None else ""
        parts.append(
            f"<h3>{esc(family.name)}</h3><p class=meta>{lead}each pair: a sample (left) and its nearest "
            "training image (right), closest first. A ratio well below 1 means the sample is closer to that "
            "training image than the image is to its own nearest training neighbour.</p>"
            f'<ul class="pairs">{"".join(cards)}</ul>'
        )
    return "".join(parts)


def _data_flow(data: ReportData) -> str:
    """One line per data stage's counts (ingest, augment): how many rows each stage saw and made."""
    lines = []
    for stage, summary in (("ingest", data.ingest_summary), ("augment", data.augment_summary)):
        if summary:
            counts = ", ".join(f"{esc(k)}: {esc(fmt(v))}" for k, v in summary.items() if not isinstance(v, dict | list))
            lines.append(f"<li>{stage}: {counts}</li>")
    return f"<ul class=meta>{''.join(lines)}</ul>" if lines else ""


def _validation(data: ReportData) -> str:
    summary = data.validation
    if summary is None:
        return _data_flow(data)
    link = (
        f'<p><a href="{esc(data.data_docs_href)}">Great Expectations Data Docs</a> (every expectation with its '
        "details)</p>"
        if data.data_docs_href
        else ""
    )
    counts = summary.get("rows") if isinstance(summary.get("rows"), dict) else {}
    count_text = ", ".join(f"{esc(k)}: {esc(fmt(v))}" for k, v in counts.items())
    expectations = summary.get("expectations") if isinstance(summary.get("expectations"), dict) else {}
    rows = []
    for name, entry in expectations.items():
        entry = entry if isinstance(entry, dict) else {}
        ok = entry.get("success")
        severity = str(entry.get("severity", ""))
        state = "pass" if ok else ("fail" if severity == "error" else "warning")
        rows.append(
            [
                f"<td><code>{esc(name)}</code></td>",
                f"<td>{esc(severity)}</td>",
                f'<td class="{"pass" if ok else "fail" if severity == "error" else ""}"><span class="tag '
                f'{state}">{"pass" if ok else "FAIL" if severity == "error" else "warn"}</span></td>',
                f"<td>{esc(fmt(entry.get('observed')))}</td>",
                f"<td>{esc(entry.get('allowed', ''))}</td>",
                f'<td class="num">{esc(fmt(entry.get("rows")))}</td>',
            ]
        )
    failed_first = sorted(rows, key=lambda r: ("tag pass" in r[2], r[0]))
    return (
        link
        + _data_flow(data)
        + (f"<p class=meta>validated rows: {count_text}</p>" if count_text else "")
        + _table(["check", "severity", "result", "observed", "allowed", "failing rows"], failed_first)
    )


def _params(data: ReportData) -> str:
    rev = data.revision
    commit = esc(rev.commit) if rev.commit else "unknown (no git repository)"
    dirty = "" if rev.dirty is None else " (uncommitted changes)" if rev.dirty else " (clean)"
    lock = esc(rev.dvc_lock_sha256) if rev.dvc_lock_sha256 else "no dvc.lock"
    return (
        f"<p>git commit <code>{commit}</code>{dirty}<br>dvc.lock SHA-256 <code>{lock}</code></p>"
        f"<pre>{esc(data.params_text) or 'params not available'}</pre>"
    )


def render(data: ReportData) -> str:
    """The whole page as a string."""
    names = ", ".join(f.name for f in data.families)
    nav = "".join(f'<li><a href="#{sid}">{esc(title)}</a></li>' for sid, title in SECTIONS)
    family_sections = ("samples", "curves", "metrics", "prdc", "classes", "spectra", "memorization")
    placed = {s for s in family_sections} | {"validation", "params"}
    unplaced = [m for m in data.missing if m.section not in placed]
    prdc = _figure(
        plots.prdc_bars(_family_plots(data, "prdc")),
        "precision, recall, density and coverage per family",
        "bars: the samples' value; tick: the train/test floor",
    )
    classes = _figure(
        plots.class_histogram(_family_plots(data, "class_histogram"), data.class_names),
        "class shares of real and generated images",
        "shares of the training labels and of the classifier's predictions on the samples",
    )
    spectra = _figure(
        plots.power_spectra(_family_plots(data, "spectrum")),
        "power spectra",
        "too much high-frequency power: noise or checkerboard artefacts; too little: blur",
    )
    body = [
        _section("verdict", _verdict(data) + _missing_list(unplaced), data, sections=("verdict",)),
        _section("samples", _samples(data), data),
        _section("curves", _curves(data), data),
        _section("metrics", _metrics(data), data),
        _section("prdc", prdc, data),
        _section("classes", classes, data),
        _section("spectra", spectra, data),
        _section("memorization", _memorization(data), data),
        _section("validation", _validation(data), data),
        _section("params", _params(data), data),
    ]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>genqc report: {esc(names)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>genqc report</h1>
<p class="meta">model families: {esc(names) or "none"}; primary: {esc(data.primary)}; written {esc(data.created)}</p>
<nav aria-label="sections"><ul>{nav}</ul></nav>
</header>
<main>
{"".join(body)}
</main>
</body>
</html>
"""
