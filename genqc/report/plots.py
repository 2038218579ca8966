"""Report figures as PNG bytes, drawn with matplotlib's Agg canvas.

``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg`` never touches
pyplot's global state or the user's backend, so rendering is headless and safe
to call from any process. Each function returns None when it has nothing to draw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Groups of DVCLive metric names, in the order their panels appear (the last path component decides).
CURVE_GROUPS = (
    ("loss", "losses"),
    ("grad_norm", "gradient norms"),
    ("lr", "learning rate"),
    ("images_per_s", "throughput (images/s)"),
)
# No red or green: on this page those colours mean fail and pass.
COLOURS = ("#0969da", "#bf8700", "#8250df", "#1b7c83", "#e16f24", "#6e7781")
DPI = 96


def _figure(width: float, height: float) -> Any:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _group(name: str) -> str:
    """``generator/loss`` -> loss; ``lr/generator`` -> lr; others by their last part (``d/d_fake`` -> d_fake)."""
    parts = name.split("/")
    for key, _ in CURVE_GROUPS:
        if key in (parts[0], parts[-1]):
            return key
    return parts[-1]


def _finite(values: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(s, v) for s, v in values if math.isfinite(s) and math.isfinite(v)]


def training_curves(curves: dict[str, list[tuple[float, float]]], *, title: str) -> bytes | None:
    """One panel per metric group (losses, grad norms, lr, images/s, others), every series labelled."""
    groups: dict[str, list[str]] = {}
    for name in sorted(curves):
        groups.setdefault(_group(name), []).append(name)
    if not groups:
        return None
    order = [k for k, _ in CURVE_GROUPS if k in groups] + sorted(k for k in groups if k not in dict(CURVE_GROUPS))
    titles = dict(CURVE_GROUPS)
    columns = min(4, len(order))
    rows = math.ceil(len(order) / columns)
    figure = _figure(3.2 * columns, 2.6 * rows + 0.3)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(order) :]:
        ax.set_visible(False)
    for ax, key in zip(axes, order, strict=False):
        for i, name in enumerate(groups[key]):
            points = _finite(curves[name])
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, color=COLOURS[i % len(COLOURS)], linewidth=1.2, label=name)
        ax.set_title(titles.get(key, key), fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if key == "grad_norm" and all(v > 0 for n in groups[key] for _, v in _finite(curves[n])):
            ax.set_yscale("log")
        ax.legend(fontsize=7, loc="best")
    figure.suptitle(title, fontsize=11)
    return _png(figure)


def class_histogram(families: Sequence[tuple[str, list[dict[str, Any]]]], class_names: dict[int, str]) -> bytes | None:
    """Grouped bars per class: the real share, then each family's generated share."""
    families = [(n, rows) for n, rows in families if rows]
    if not families:
        return None
    classes = sorted({int(r["class"]) for _, rows in families for r in rows if _is_number(r.get("class"))})
    if not classes:
        return None
    real = {int(r["class"]): _number(r.get("real")) for r in families[0][1] if _is_number(r.get("class"))}
    series = [("real (train labels)", real)]
    for name, rows in families:
        shares = {int(r["class"]): _number(r.get("generated")) for r in rows if _is_number(r.get("class"))}
        series.append((f"generated: {name}", shares))
    figure = _figure(min(12.0, 2.0 + 0.6 * len(classes) * len(series) / 2), 3.0)
    ax = figure.subplots()
    width = 0.8 / len(series)
    for i, (label, shares) in enumerate(series):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(classes))]
        ax.bar(xs, [shares.get(c, 0.0) for c in classes], width=width, label=label, color=COLOURS[i % len(COLOURS)])
    ax.set_xticks(range(len(classes)), [class_names.get(c, str(c)) for c in classes], fontsize=8)
    ax.set_ylabel("share of images", fontsize=9)
    ax.set_title("class shares: real vs generated (classifier predictions)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(figure)


def power_spectra(families: Sequence[tuple[str, list[dict[str, Any]]]]) -> bytes | None:
    """Radially averaged power spectra, log scale: the real curve once, each family's samples over it."""
    families = [(n, rows) for n, rows in families if rows]
    if not families:
        return None
    figure = _figure(6.0, 3.2)
    ax = figure.subplots()
    real = [(_number(r.get("frequency")), _number(r.get("real"))) for r in families[0][1]]
    _spectrum_line(ax, real, "real (test)", "#000000", "--")
    for i, (name, rows) in enumerate(families):
        _spectrum_line(
            ax,
            [(_number(r.get("frequency")), _number(r.get("generated"))) for r in rows],
            f"generated: {name}",
            COLOURS[(i + 1) % len(COLOURS)],
            "-",
        )
    ax.set_xlabel("spatial frequency (cycles per image; 0, the mean, not shown)", fontsize=9)
    ax.set_ylabel("power", fontsize=9)
    ax.set_title("radially averaged power spectrum", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(figure)


def _spectrum_line(ax: Any, points: list[tuple[float, float]], label: str, colour: str, style: str) -> None:
    points = [(f, v) for f, v in _finite(points) if f > 0 and v > 0]  # f = 0 is the mean, removed before the FFT
    if points:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, style, color=colour, linewidth=1.4, label=label)
        ax.set_yscale("log")


def prdc_bars(families: Sequence[tuple[str, list[dict[str, Any]]]]) -> bytes | None:
    """Horizontal bars of precision/recall/density/coverage per family, the train/test floor as a tick."""
    rows = [(name, r) for name, rs in families if rs for r in rs if _is_number(r.get("value"))]
    if not rows:
        return None
    figure = _figure(7.0, 0.8 + 0.28 * len(rows))
    ax = figure.subplots()
    labels = [f"{name}: {r.get('metric', '?')}" for name, r in rows]
    names = list(dict.fromkeys(name for name, _ in rows))
    ys = list(range(len(rows)))[::-1]
    colours = [COLOURS[names.index(name) % len(COLOURS)] for name, _ in rows]
    ax.barh(ys, [_number(r["value"]) for _, r in rows], color=colours, height=0.7)
    floors = [(y, _number(r.get("floor"))) for y, (_, r) in zip(ys, rows, strict=True) if _is_number(r.get("floor"))]
    if floors:
        ax.scatter(
            [f for _, f in floors],
            [y for y, _ in floors],
            marker="|",
            s=200,
            color="#000000",
            label="train/test floor",
            zorder=3,
        )
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlabel("value (1 is ideal for precision, recall, coverage; density ~1)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _png(figure)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else float("nan")
