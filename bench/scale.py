"""Real datasets at real size: every stage's wall time and peak RSS, and a 200k RGB ingest.

Run: ``python -m bench.scale [--quick] [--only chain|synthetic|rgb ...] [--keep DIR]``.

- ``chain``: the whole default chain (every ``genqc <stage>`` of dvc.yaml, each
  family of ``train.models``) on Fashion-MNIST 70k (``idx:`` source, Debian
  package dataset-fashion-mnist), default params otherwise. Each stage runs as
  its own process; its peak RSS comes from ``os.wait4``'s rusage for exactly
  that process, its wall time from the clock around it. The issue's targets:
  the whole chain within 20 minutes, no stage above 1.5 GB.
- ``synthetic``: ``genqc ingest`` (default params, image_size 64, channels 3)
  of an ``npz:`` source of 200,000 procedurally drawn 64x64x3 images
  (genqc.data.shapes; 2.3 GiB of pixels, the archive written batch by batch);
  its own process's peak RSS and wall. Target: within 2 GB peak RSS.
- ``rgb``: every stage on ``builtin:shapes`` (RGB) at 32 and at 64 px with tiny
  steps, and a check that report.html renders with its sections and images.

``--quick`` shrinks everything to minutes (digits instead of Fashion-MNIST,
2,000 synthetic images, the RGB chain with fewer steps and only at 32 px unless
``--sizes`` says otherwise): it checks that the
benchmark works, its figures say nothing about scale. Run the full benchmark on
idle cores: the figures are only comparable there. The machine's load average
is recorded beside every time.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import write_result

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
SYNTHETIC_IMAGES = 200_000
TARGETS = {"chain_s": 20 * 60, "stage_rss_mb": 1536, "synthetic_rss_mb": 2048}

# --quick: the real params.yaml, shrunk (as tests/conftest.py's tiny_params) so the chain takes minutes.
QUICK = {
    "ingest": {"source": "builtin:digits", "image_size": 16, "resize": "stretch", "test_fraction": 0.25},
    "classifier": {"epochs": 4, "batch_size": 64, "device": "cpu"},
    "train": {"steps": 20, "device": "cpu", "checkpoint_every": 10, "image_every": 20, "grid_size": 16},
    "sample": {"n": 64, "device": "cpu"},
    "evaluate": {"bootstrap": 5, "kid_subsets": 5, "device": "cpu", "max_train": 256, "extractors": ["classifier"]},
    "gates": {"fail": False},
}
# The RGB chain: every stage, tiny steps, both default extractors (effnet_lite0 sees real colour).
RGB = {
    "ingest": {"source": "builtin:shapes", "channels": 3, "resize": "stretch"},
    "augment": {"ops": {"hflip": {"p": 0.5}}},  # shapes survive mirroring, unlike digits
    "classifier": {"max_steps": 300, "device": "cpu"},
    "train": {"steps": 60, "device": "cpu", "checkpoint_every": 30, "image_every": 60, "grid_size": 16},
    "sample": {"n": 200, "device": "cpu"},
    "evaluate": {"bootstrap": 10, "kid_subsets": 10, "device": "cpu", "max_train": 1000},
    "gates": {"fail": False},  # 60 training steps make a poor model: record the verdicts, keep going
}
RGB_QUICK = {
    "classifier": {"max_steps": 60},
    "train": {"steps": 20, "checkpoint_every": 20, "image_every": 20},
    "sample": {"n": 100},
    "evaluate": {"bootstrap": 5, "kid_subsets": 5, "max_train": 300},
}


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stage_commands(params: dict) -> list[list[str]]:
    """dvc.yaml's stages in order, the matrix stages once per family of train.models."""
    families = params.get("train", {}).get("models", ["dcgan", "vae"])
    head = [["ingest"], ["validate"], ["augment"], ["classifier"], ["features"]]
    per_family = [[stage, "--model", m] for stage in ("train", "sample", "evaluate") for m in families]
    return head + per_family + [["publish"], ["report"]]


def project_env() -> dict[str, str]:
    """The environment of a stage run in a scratch directory: the repository importable, and named as the project.

    The scratch directory holds its own dvc.yaml and params.yaml but no tasks/: GENQC_PROJECT tells the CLI
    where the stage modules live.
    """
    path = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=path, GENQC_PROJECT=str(REPO))


def run_measured(command: list[str], cwd: Path, log: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one process; its wall time, its own peak RSS (wait4 rusage, not its children's) and exit code."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "exit": process.returncode,
        "load_1min": round(load, 2),
    }


def run_chain(workdir: Path, params: dict, label: str) -> dict[str, Any]:
    """Every stage of the chain in ``workdir`` with these params; per-stage figures and the totals."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(REPO / "dvc.yaml", workdir / "dvc.yaml")
    (workdir / "logs").mkdir(exist_ok=True)
    env = project_env()
    stages: dict[str, Any] = {}
    for command in stage_commands(params):
        name = "@".join([command[0], *command[2:]])
        figures = run_measured(
            [sys.executable, "-m", "genqc.cli", *command], workdir, workdir / "logs" / f"{name}.log", env
        )
        stages[name] = figures
        print(
            f"{label} {name}: {figures['seconds']:.1f} s, {figures['peak_rss_mb']:.0f} MB peak RSS, "
            f"exit {figures['exit']} (load {figures['load_1min']})",
            flush=True,
        )
        # evaluate exits 1 for a failed gate (its outputs are written): go on; any other failure stops the chain
        if figures["exit"] != 0 and command[0] != "evaluate":
            print(f"{label}: {name} failed; see {workdir / 'logs' / (name + '.log')}", flush=True)
            break
    seconds = sum(s["seconds"] for s in stages.values())
    peak = max(s["peak_rss_mb"] for s in stages.values())
    return {
        "stages": stages,
        "total_s": round(seconds, 1),
        "max_peak_rss_mb": peak,
        "completed": all(s["exit"] in (0, 1) for s in stages.values()) and len(stages) == len(stage_commands(params)),
    }


def write_synthetic_npz(n: int, target: Path, *, batch_size: int = 2048) -> None:
    """An .npz of n shapes (64x64x3 uint8, genqc.data.shapes) and their labels, written batch by batch.

    The archive is what a user would hand to ``ingest.source: npz:FILE``; it is
    written member by member through zipfile (stored, zip64), so building a
    2.5 GB archive never holds more than one batch.
    """
    import zipfile

    import numpy as np

    from genqc.data.shapes import NATIVE_SIZE, iter_shapes

    labels = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n, NATIVE_SIZE, NATIVE_SIZE, 3)}
            np.lib.format.write_array_header_1_0(member, header)
            for images, batch_labels in iter_shapes(n, seed=0, batch_size=batch_size):
                member.write(images.tobytes())
                labels.append(batch_labels)
        with archive.open("labels.npy", "w") as member:
            np.lib.format.write_array(member, np.concatenate(labels) if labels else np.zeros(0, np.int64))


def run_synthetic(workdir: Path, n: int, base: dict) -> dict[str, Any]:
    """``genqc ingest`` of n synthetic 64x64x3 images (an npz source, default params otherwise), measured."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "shapes.npz"
    start = time.perf_counter()
    write_synthetic_npz(n, source)
    built_s = time.perf_counter() - start
    params = merged(base, {"ingest": {"source": f"npz:{source}", "image_size": 64, "channels": 3}})
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(REPO / "dvc.yaml", workdir / "dvc.yaml")
    figures = run_measured(
        [sys.executable, "-m", "genqc.cli", "ingest"], workdir, workdir / "ingest.log", project_env()
    )
    tables = [workdir / "data" / "ingest" / f"{split}.parquet" for split in ("train", "test")]
    figures |= {
        "images": n,
        "shape": "64x64x3",
        "source": "npz (stored), uint8",
        "dataset_build_s": round(built_s, 1),
        "pixels_mb": round(n * 64 * 64 * 3 / 2**20, 1),
        "source_mb": round(source.stat().st_size / 2**20, 1),
        "table_mb": round(sum(t.stat().st_size for t in tables) / 2**20, 1)
        if all(t.exists() for t in tables)
        else None,
    }
    print(
        f"genqc ingest of {n} x 64x64x3: {figures['seconds']:.1f} s, {figures['peak_rss_mb']:.0f} MB peak RSS "
        f"(pixels {figures['pixels_mb']} MB, tables {figures['table_mb']} MB), exit {figures['exit']}",
        flush=True,
    )
    return figures


def check_report(workdir: Path) -> dict[str, Any]:
    """report.html exists, has every section and embeds its images; the classifier's verdict."""
    import json

    from genqc.report.html import SECTIONS

    page_path = workdir / "reports" / "report.html"
    page = page_path.read_text() if page_path.exists() else ""
    missing = [sid for sid, _ in SECTIONS if f'<section id="{sid}"' not in page]
    classifier = workdir / "data" / "classifier" / "metrics.json"
    accuracy = json.loads(classifier.read_text()) if classifier.exists() else {}
    return {
        "report_bytes": len(page),
        "sections_missing": missing,
        "images": page.count("data:image/png"),
        "classifier_test_accuracy": accuracy.get("test_accuracy"),
        "evaluator_ok": accuracy.get("evaluator_ok"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data only: checks the benchmark, not scale")
    parser.add_argument("--only", nargs="*", choices=["chain", "synthetic", "rgb"], default=None)
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it")
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=None, help="RGB image sizes (default: 32 64; --quick: 32)"
    )
    args = parser.parse_args(argv)
    parts = args.only or ["chain", "synthetic", "rgb"]
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    root = args.keep or Path(tempfile.mkdtemp(prefix="genqc-scale-"))
    figures: dict[str, Any] = {"quick": args.quick, "targets": TARGETS, "load_1min_start": os.getloadavg()[0]}
    table: list[dict[str, str]] = []
    try:
        if "chain" in parts:
            params = merged(base, QUICK) if args.quick else merged(base, {"ingest": {"source": f"idx:{FASHION_MNIST}"}})
            chain = run_chain(root / "chain", params, "chain")
            figures["chain"] = chain
            what = "digits (quick)" if args.quick else "Fashion-MNIST 70k"
            table.append(
                {
                    "what": f"default chain, {what}: total wall / worst stage peak RSS",
                    "genqc": f"{chain['total_s']:.0f} s / {chain['max_peak_rss_mb']:.0f} MB",
                    "peer": "target 1200 s / 1536 MB",
                    "ratio": "-",
                }
            )
            for name, stage in chain["stages"].items():
                table.append(
                    {
                        "what": f"{what} | {name}",
                        "genqc": f"{stage['seconds']:.0f} s, {stage['peak_rss_mb']:.0f} MB",
                        "peer": "-",
                        "ratio": "-",
                    }
                )
        if "synthetic" in parts:
            synthetic = run_synthetic(root / "synthetic", 2000 if args.quick else SYNTHETIC_IMAGES, base)
            figures["synthetic"] = synthetic
            table.append(
                {
                    "what": f"genqc ingest, npz of {synthetic['images']} x 64x64x3 RGB: wall / peak RSS",
                    "genqc": f"{synthetic['seconds']:.0f} s / {synthetic['peak_rss_mb']:.0f} MB",
                    "peer": "target 2048 MB",
                    "ratio": "-",
                }
            )
        if "rgb" in parts:
            for size in args.sizes or ((32,) if args.quick else (32, 64)):
                rgb = merged(RGB, RGB_QUICK) if args.quick else RGB
                params = merged(base, merged(rgb, {"ingest": {"image_size": size}}))
                chain = run_chain(root / f"rgb{size}", params, f"rgb{size}")
                chain["report"] = check_report(root / f"rgb{size}")
                figures[f"rgb{size}"] = chain
                report = chain["report"]
                rendered = bool(report["report_bytes"]) and not report["sections_missing"]
                table.append(
                    {
                        "what": f"builtin:shapes RGB {size} px, every stage (tiny steps)",
                        "genqc": f"{chain['total_s']:.0f} s, worst {chain['max_peak_rss_mb']:.0f} MB, "
                        f"classifier {report['classifier_test_accuracy']}",
                        "peer": "report: " + ("all sections" if rendered else "INCOMPLETE"),
                        "ratio": "-",
                    }
                )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    figures["load_1min_end"] = os.getloadavg()[0]
    figures["table"] = table
    # a partial run (--only) gets its own result file, so it never overwrites the figures of the parts it skipped
    path = write_result(
        "scale"
        if args.only is None or set(parts) == {"chain", "synthetic", "rgb"}
        else "scale-" + "-".join(sorted(set(parts))),
        figures,
    )
    print(f"wrote {path}")
    failed = [k for k in ("chain", "rgb32", "rgb64") if k in figures and not figures[k]["completed"]]
    failed += ["synthetic"] if "synthetic" in figures and figures["synthetic"]["exit"] != 0 else []
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
