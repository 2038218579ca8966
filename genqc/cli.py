"""The ``genqc`` command: one subcommand per DVC stage, plus metrics, run and serve.

Start-up must stay fast (``genqc --help`` well under a second), so this module
imports only the standard library and genqc.errors (which imports nothing); each
subcommand loads its module, and with it torch, great_expectations or prefect,
only when it runs.

Library and application stay apart. The library (``genqc``) implements the
commands that need no project (:data:`LIBRARY_COMMANDS`); the stages, ``run``
and ``serve`` are the project's application code, files under its ``tasks/``
and ``flows/`` folders (:data:`PROJECT_COMMANDS`). The CLI finds the project the
way ``dvc`` does, from the nearest directory holding ``dvc.yaml`` (walking up
from the current one), or from ``$GENQC_PROJECT`` when the work directory is
elsewhere, and runs the file it holds; nothing named ``tasks`` or ``flows`` is
installed into site-packages. Outside a project such a command exits 2 saying so.

Exit codes: 0 success, 1 data or gate failure, 2 usage or config error. A user
error never shows a traceback; a bug still does (set GENQC_DEBUG=1 to see the
traceback of user errors too).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from genqc.errors import GenqcError

PROJECT_ENV = "GENQC_PROJECT"  # the project root, when the work directory is not inside it
PROJECT_MARKER = "dvc.yaml"  # a genqc project is a DVC project: its root holds the stage graph

STAGES = {
    "ingest": "load the source dataset into data/ingest/{train,test}.parquet",
    "validate": "check data quality and bias (Great Expectations); the CI gate",
    "augment": "write data/augment/train.parquet with augmented copies",
    "classifier": "train the domain classifier used as an evaluation network",
    "features": "extract the real reference sets' features once per data version into data/features/store",
    "train": "train the generator (dcgan | vae | ddpm) with checkpoints and EMA",
    "sample": "draw data/sample/<model>/samples.parquet from the trained model",
    "evaluate": "compute metrics with confidence intervals and apply the gates",
    "publish": "copy the primary family's (train.model) metrics to reports/metrics.json",
    "report": "write reports/report.html",
}


# Commands the library implements (module with ``main(args)``): they work anywhere, no project needed.
LIBRARY_COMMANDS: dict[str, str] = {"metrics": "genqc.evaluation.command"}
# Commands the project implements: a file relative to the project root, with ``main(args)``.
PROJECT_COMMANDS: dict[str, str] = {
    **{stage: f"tasks/{stage}.py" for stage in STAGES},
    "run": "flows/pipeline.py",
    "serve": "flows/deploy.py",
}


def _add_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        default="params.yaml",
        metavar="FILE",
        help="params file (default: params.yaml in the current directory)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genqc",
        description="Reproducible, quality-gated pipeline for image generative models. "
        "Run the whole chain with `dvc repro`; each stage is a subcommand.",
    )
    parser.add_argument("--version", action="version", version="genqc 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in STAGES.items():
        stage = sub.add_parser(name, help=text, description=text)
        _add_params(stage)
        if name == "train":
            stage.add_argument(
                "--model",
                choices=["dcgan", "vae", "ddpm"],
                default=None,
                help="override train.model (dvc.yaml's matrix uses this)",
            )
        if name in ("sample", "evaluate", "report"):
            stage.add_argument(
                "--model",
                choices=["dcgan", "vae", "ddpm"],
                default=None,
                help="which trained model family to use (default: train.model)",
            )

    metrics = sub.add_parser(
        "metrics",
        help="compute the metrics between two image sets, outside the pipeline",
        description="Metrics between REAL and FAKE: each an image folder, an image table "
        "(.parquet) or an .npz of images; or precomputed features.",
    )
    metrics.add_argument("real", nargs="?", help="real images: folder, .parquet table or .npz")
    metrics.add_argument("fake", nargs="?", help="generated images: folder, .parquet table or .npz")
    metrics.add_argument("--real-features", metavar="A.npy", help="precomputed (N, D) real features")
    metrics.add_argument("--fake-features", metavar="B.npy", help="precomputed (M, D) fake features")
    metrics.add_argument(
        "--extractor",
        default="effnet_lite0",
        help="feature extractor for image inputs (effnet_lite0, inception, classifier)",
    )
    metrics.add_argument("--classifier", metavar="CKPT", help="classifier checkpoint for --extractor classifier")
    metrics.add_argument("--inception-weights", metavar="FILE", help="FID Inception weights file")
    metrics.add_argument(
        "--bootstrap", type=int, default=100, help="bootstrap resamples for the 95%% intervals (0: no intervals)"
    )
    metrics.add_argument("--seed", type=int, default=0, help="seed of KID subsets and bootstrap resamples")
    metrics.add_argument("--json", metavar="FILE", help="also write the metrics as flat JSON")
    metrics.add_argument(
        "--metrics",
        default=None,
        metavar="LIST",
        help="comma list of fd, kid, prdc, is (default: all; features: fd, kid, prdc)",
    )
    metrics.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the extractor runs")
    metrics.add_argument("--batch-size", type=int, default=64, help="images per extractor batch")

    run = sub.add_parser("run", help="run the pipeline as a Prefect flow (stages from dvc.yaml)")
    _add_params(run)
    run.add_argument("--stages", nargs="*", default=None, help="only these dvc.yaml stages (default: all)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="param override, run as a DVC experiment (dvc exp run -S KEY=VALUE)",
    )
    run.add_argument(
        "--name",
        dest="experiment_name",
        default=None,
        metavar="EXP",
        help="name of the experiment --set runs (default: DVC picks one)",
    )

    serve = sub.add_parser("serve", help="serve the pipeline flow as a scheduled Prefect deployment")
    _add_params(serve)
    serve.add_argument("--cron", default="0 3 * * *", help="cron schedule (default: daily at 03:00)")
    serve.add_argument("--name", default="genqc-nightly", help="deployment name")
    serve.add_argument(
        "--stages", nargs="*", default=None, help="only these dvc.yaml stages (e.g. validate: a data gate)"
    )
    return parser


class ProjectNotFound(Exception):
    """No genqc project to run a project command in (exit 2: run it from the project root)."""


def find_project_root(start: Path | None = None) -> Path:
    """The project root: ``$GENQC_PROJECT`` if set, else the nearest directory from ``start`` up with dvc.yaml."""
    configured = os.environ.get(PROJECT_ENV)
    if configured:
        root = Path(configured).expanduser().resolve()
        if not (root / PROJECT_MARKER).is_file():
            raise ProjectNotFound(f"{PROJECT_ENV}={configured} has no {PROJECT_MARKER}; point it at the project root")
        return root
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_MARKER).is_file():
            return directory
    raise ProjectNotFound(
        f"not inside a genqc project: no {PROJECT_MARKER} in {here} or any parent; run from the "
        f"project root (where dvc.yaml and params.yaml are) or set {PROJECT_ENV}"
    )


def load_project_module(root: Path, relative: str) -> ModuleType:
    """The project's module at ``root/relative`` (``tasks/train.py`` -> module ``tasks.train``).

    The root goes first on sys.path, as Python does for a script's own directory, so the
    project's absolute imports (``tasks.common`` from ``tasks/train.py``) resolve inside the same
    project. A module already imported from that very file is reused (tests patch it).
    """
    path = root / relative
    if not path.is_file():
        raise ProjectNotFound(f"{root} has no {relative}; is it a genqc project (tasks/ and flows/ beside dvc.yaml)?")
    name = relative.removesuffix(".py").replace("/", ".")
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
        return loaded
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProjectNotFound(f"{path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def command_module(command: str) -> ModuleType:
    """The module that implements ``command``: the library's own, or the project's file."""
    if command in LIBRARY_COMMANDS:
        return importlib.import_module(LIBRARY_COMMANDS[command])
    return load_project_module(find_project_root(), PROJECT_COMMANDS[command])


def _report_user_error(command: str, exc: BaseException, code: int) -> int:
    if os.environ.get("GENQC_DEBUG"):
        traceback.print_exception(exc)
    print(f"genqc {command}: error: {exc}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        module = command_module(args.command)
    except ProjectNotFound as exc:
        return _report_user_error(args.command, exc, 2)
    try:
        result = module.main(args)
    except GenqcError as exc:
        return _report_user_error(args.command, exc, exc.exit_code)
    except FileNotFoundError as exc:
        return _report_user_error(args.command, exc, 2)
    except OSError as exc:  # a full disk, a read-only or forbidden path: str() names the path and errno; exit 1
        return _report_user_error(args.command, exc, 1)
    except MemoryError as exc:
        exc.args = exc.args or ("out of memory; lower the batch sizes or the data size",)
        return _report_user_error(args.command, exc, 1)
    except KeyboardInterrupt:
        print(f"genqc {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
