"""Gate margins: broken generators built from real mnist5k images, scored by ``genqc.evaluate``.

Run: ``python -m bench.gates`` after ``genqc ingest && genqc validate && genqc classifier`` (the
default pipeline's validated tables and its trained domain classifier). ``--judge`` re-judges the
stored metrics with params.yaml's current gates (no evaluation) and rewrites the verdicts in
bench/results/gates.json and the margins table in docs/metrics.md.

No generator is trained. Each "model" is a set of ``sample.n`` images made from real data:

- ``held_out``: real training digits that evaluation never sees (the good reference: must pass);
- ``blur``: the test images under a Gaussian blur (sigma 1 pixel);
- ``collapse_2``: two held-out images, repeated;
- ``one_class``: held-out images of one class, drawn with replacement;
- ``noise``: uniform noise;
- ``train_copies``: exact copies of training images;
- ``shifted_copies``: training images moved by one pixel (a random direction each, zero-filled).

The held-out images are removed from the train split before evaluation (``HELD_OUT`` seeded rows),
so copies and held-out images are judged against the same training set. Every set is scored with
the default extractors and the ``evaluate`` section of params.yaml, through ``genqc.evaluate`` (the
stage's own code), with a feature cache so the real sets are extracted once. The result,
bench/results/gates.json, holds every headline metric per baseline and each default gate's
verdict and margin; docs/metrics.md's table is generated from it (``--table``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from bench.common import RESULTS, machine_info, peak_rss_mb, write_result
from genqc.config import load_params
from genqc.data.split import subset_indices
from genqc.data.table import read_table
from genqc.evaluation import EvalSet, evaluate
from genqc.features import build_extractor
from genqc.gates import evaluate_gates
from tasks.paths import CLASSIFIER_CHECKPOINT, FEATURE_CACHE, VALIDATED_TEST, VALIDATED_TRAIN

HELD_OUT = 1000  # train images set aside as the "good model" (as many as sample.n's default)
BLUR_SIGMA = 1.0  # pixels
DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
TABLE_START, TABLE_END = "<!-- gates-table:start -->", "<!-- gates-table:end -->"
# The keys each baseline row of the JSON keeps: every gateable headline number and its interval.
_DROP = re.compile(r"(_se|_class\d+)$|^(sample_|gate)")


def broken_generators(
    train: np.ndarray, test: np.ndarray, held: np.ndarray, held_labels: np.ndarray, *, n: int, seed: int
) -> dict[str, np.ndarray]:
    """``{name: uint8 (n, H, W, C) images}``: the good reference and the broken generators (module docstring).

    ``train`` are the training images evaluation compares with, ``test`` the test reference,
    ``held`` real images in neither (with their labels).
    """
    rng = np.random.default_rng(seed)
    pick_held = rng.choice(len(held), n, replace=len(held) < n)
    blurred = gaussian_filter(test.astype(np.float64), sigma=(0, BLUR_SIGMA, BLUR_SIGMA, 0))
    blur_rows = rng.choice(len(test), n, replace=len(test) < n)
    pair = held[rng.choice(len(held), 2, replace=False)]
    one_label = int(np.bincount(held_labels).argmax())
    one_class = held[held_labels == one_label]
    copies = train[rng.choice(len(train), n, replace=len(train) < n)]
    return {
        "held_out": held[pick_held],
        "blur": np.clip(np.rint(blurred[blur_rows]), 0, 255).astype(np.uint8),
        "collapse_2": pair[np.arange(n) % 2],
        "one_class": one_class[rng.choice(len(one_class), n, replace=True)],
        "noise": rng.integers(0, 256, size=(n, *train.shape[1:]), dtype=np.uint8),
        "train_copies": copies,
        "shifted_copies": _shift_one_pixel(train[rng.choice(len(train), n, replace=len(train) < n)], rng),
    }


def _shift_one_pixel(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by one pixel up, down, left or right (drawn per image); the uncovered edge is 0."""
    out = np.zeros_like(images)
    for i, direction in enumerate(rng.integers(0, 4, len(images))):
        dy, dx = ((1, 0), (-1, 0), (0, 1), (0, -1))[direction]
        h, w = images.shape[1:3]
        out[i, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
            i, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
    return out


def _real_sets(seed: int) -> tuple[EvalSet, EvalSet, EvalSet]:
    """(train without the held-out rows, test, held-out) from the validated tables."""
    train_table, test_table = read_table(str(VALIDATED_TRAIN)), read_table(str(VALIDATED_TEST))
    held_rows = subset_indices(len(train_table), HELD_OUT, seed + 100)
    keep = np.setdiff1d(np.arange(len(train_table)), held_rows)
    train = EvalSet.from_table(train_table.iloc[keep])
    held = EvalSet.from_table(train_table.iloc[held_rows])
    return train, EvalSet.from_table(test_table), held


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not _DROP.search(k) and not isinstance(v, str)}


def run(
    params_path: str = "params.yaml",
    models: dict[str, str] | None = None,
    *,
    extractors_override: list[str] | None = None,
    bootstrap_override: int | None = None,
) -> dict[str, Any]:
    """Score every baseline, or (``models``: name -> samples.parquet) only those trained models' samples.

    ``extractors_override`` / ``bootstrap_override`` replace the params' (recorded in the result):
    the default gates judge point values, so intervals do not change a verdict.
    """
    params = load_params(params_path)
    cfg = params.evaluate
    if extractors_override or bootstrap_override is not None:
        update = {"extractors": extractors_override, "bootstrap": bootstrap_override}
        cfg = cfg.model_copy(update={k: v for k, v in update.items() if v is not None})
    train, test, held = _real_sets(params.seed)
    classifier = build_extractor("classifier", checkpoint=CLASSIFIER_CHECKPOINT)
    extractors = [classifier if name == "classifier" else build_extractor(name) for name in cfg.extractors]
    if models:
        sets = {name: EvalSet.from_table(read_table(path)).pixels for name, path in models.items()}
    else:
        sets = broken_generators(
            train.pixels, test.pixels, held.pixels, held.labels, n=params.sample.n, seed=params.seed
        )
    baselines: dict[str, Any] = {}
    for name, images in sets.items():
        start, cpu = time.perf_counter(), time.process_time()
        result = evaluate(
            EvalSet.from_images(images),
            test,
            train=train,
            extractors=extractors,
            classifier=classifier,
            seed=params.seed,
            **cfg.evaluate_options(),
            device="cpu",
            feature_cache=FEATURE_CACHE,
        )
        baselines[name] = {
            "metrics": _headline(result.metrics),
            "wall_s": round(time.perf_counter() - start, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "load": round(os.getloadavg()[0], 1),
        }
        print(
            f"{name}: {baselines[name]['wall_s']} s wall, {baselines[name]['cpu_s']} CPU-s, "
            f"load {baselines[name]['load']}",
            flush=True,
        )
    figures = {
        "setting": {
            "data": "mnist5k (validated tables)",
            "held_out": HELD_OUT,
            "n_train": len(train),
            "n_test": len(test),
            "samples": params.sample.n,
            "extractors": list(cfg.extractors),
            "blur_sigma": BLUR_SIGMA,
            "seed": params.seed,
        },
        "baselines": baselines,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    return judge(figures, params_path)


def judge(figures: dict[str, Any], params_path: str = "params.yaml") -> dict[str, Any]:
    """Add params.yaml's gates and each baseline's verdicts (value judged, limit, passed) to ``figures``."""
    gates = load_params(params_path).gates
    figures["gates"] = {"max": dict(gates.max), "min": dict(gates.min), "conservative": gates.conservative}
    for name, row in figures["baselines"].items():
        verdicts = evaluate_gates(row["metrics"], maxima=gates.max, minima=gates.min, conservative=gates.conservative)
        row["gates"] = {r.name: {"value": r.judged, "limit": r.limit, "passed": r.passed} for r in verdicts}
        failed = [r.name for r in verdicts if not r.passed]
        print(f"{name}: {'passes every gate' if not failed else 'fails ' + ', '.join(failed)}")
    return figures


def _margin(kind: str, value: float | None, limit: float) -> str:
    """How far a value sits on the passing side of its limit (negative: the gate fails)."""
    if value is None:
        return "n/a"
    gap = limit - value if kind == "max" else value - limit
    return f"{gap:+.3g}"


def table(figures: dict[str, Any]) -> str:
    """The margins table: one row per baseline, one column per default gate (value, and FAIL when it fails)."""
    gates = [(kind, key, limit) for kind in ("max", "min") for key, limit in figures["gates"][kind].items()]
    head = (
        "| baseline | "
        + " | ".join(f"`{key}` {'≤' if kind == 'max' else '≥'} {limit:g}" for kind, key, limit in gates)
        + " | failed gates |"
    )
    lines = [head, "|" + "---|" * (len(gates) + 2)]
    for name, row in figures["baselines"].items():
        cells, failed = [], 0
        for kind, key, limit in gates:
            verdict = row["gates"][f"{kind}_{key}"]
            value = verdict["value"]
            shown = "n/a" if value is None else f"{value:.3g}"
            if not verdict["passed"]:
                failed += 1
                shown = f"**{shown} FAIL** ({_margin(kind, value, limit)})"
            cells.append(shown)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {failed} |")
    return "\n".join(lines)


def write_table(figures: dict[str, Any], docs: Path = DOCS) -> None:
    """Replace the text between the table markers in docs/metrics.md with :func:`table` of the figures."""
    text = docs.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    docs.write_text(text[:start] + "\n" + table(figures) + "\n" + text[end:])


def _with_models(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` with the trained models' rows from bench/results/gates_models.json, when it exists."""
    path = RESULTS / "gates_models.json"
    if path.is_file():
        models = json.loads(path.read_text())["figures"]["baselines"]
        figures["baselines"].update({f"model:{name}": row for name, row in models.items()})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--judge", action="store_true", help="re-judge the stored metrics with params.yaml's gates; no evaluation"
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=SAMPLES.parquet",
        help="score a trained model's samples into bench/results/gates_models.json",
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--extractors", help="comma-separated extractors instead of evaluate.extractors")
    parser.add_argument("--bootstrap", type=int, help="resamples instead of evaluate.bootstrap (0: no intervals)")
    args = parser.parse_args()
    overrides = {
        "extractors_override": args.extractors.split(",") if args.extractors else None,
        "bootstrap_override": args.bootstrap,
    }
    if args.model:
        scored = run(args.params, models=dict(item.split("=", 1) for item in args.model), **overrides)
        earlier = RESULTS / "gates_models.json"
        if earlier.is_file():  # models scored by earlier calls stay; a model scored again is replaced
            scored["baselines"] = {**json.loads(earlier.read_text())["figures"]["baselines"], **scored["baselines"]}
        print(f"-> {write_result('gates_models', scored)}")
        if not (RESULTS / "gates.json").is_file():
            return  # the baselines' run merges these rows when it ends
    if args.judge or args.model:
        figures = json.loads((RESULTS / "gates.json").read_text())["figures"]
    else:
        figures = run(args.params, **overrides)
    figures = judge(_with_models(figures), args.params)
    print(f"-> {write_result('gates', figures)} ({machine_info()['cpus']} cpus)")
    write_table(figures)


if __name__ == "__main__":
    main()
