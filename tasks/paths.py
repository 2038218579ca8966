"""Every path the stages read or write, declared once.

dvc.yaml names the same paths (with ``${item.model}`` for a family); a test
(tests/tasks/test_paths.py) checks that the two agree both ways, so code and
pipeline cannot drift. Stages take their paths from here and never from each
other. The library never sees this module: stages pass paths, or what they
hold, into ``genqc``. All paths are relative to the repository root, where
``dvc repro`` and ``genqc <stage>`` run.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
REPORTS = Path("reports")

# ingest
INGEST_DIR = DATA / "ingest"
INGEST_TRAIN = INGEST_DIR / "train.parquet"
INGEST_TEST = INGEST_DIR / "test.parquet"
INGEST_REJECTED = INGEST_DIR / "rejected.parquet"
INGEST_SUMMARY = INGEST_DIR / "summary.json"
INGEST_CLASSES = INGEST_DIR / "classes.json"  # label <-> class name, and the rule that numbered each
# validate
VALIDATE_DIR = DATA / "validate"
VALIDATED_TRAIN = VALIDATE_DIR / "train.parquet"
VALIDATED_TEST = VALIDATE_DIR / "test.parquet"
QUARANTINE = VALIDATE_DIR / "quarantine.parquet"
VALIDATION_REPORTS = REPORTS / "validation"
VALIDATION_SUMMARY = VALIDATION_REPORTS / "summary.json"
DATA_DOCS = VALIDATION_REPORTS / "docs"
VALIDATION_METRICS = VALIDATION_REPORTS / "metrics.json"  # five scalars: the DVC metric
GX_PROJECT = Path(".")  # the Great Expectations project lives in ./gx (its Data Docs site: reports/validation/docs)
# augment
AUGMENT_DIR = DATA / "augment"
AUGMENTED_TRAIN = AUGMENT_DIR / "train.parquet"
AUGMENT_SUMMARY = AUGMENT_DIR / "summary.json"
# classifier
CLASSIFIER_DIR = DATA / "classifier"
CLASSIFIER_CHECKPOINT = CLASSIFIER_DIR / "classifier.pt"
CLASSIFIER_METRICS = CLASSIFIER_DIR / "metrics.json"
# features: the real reference sets' features, once per data version (a content-keyed store; sample and
# evaluate open it read-only)
FEATURES_DIR = DATA / "features"
FEATURE_STORE = FEATURES_DIR / "store"  # <extractor>/<content key>.npz, as genqc.features.cache lays them out
FEATURES_SUMMARY = FEATURES_DIR / "summary.json"  # which matrices the store holds, their shapes; a DVC metric
# train, sample, evaluate: one folder per model family under each of these
TRAIN_DIR = DATA / "train"
TRAIN_REPORTS = REPORTS / "train"
SAMPLE_DIR = DATA / "sample"
SAMPLE_REPORTS = REPORTS / "sample"
EVALUATE_DIR = DATA / "evaluate"
EVALUATE_REPORTS = REPORTS / "evaluate"
# publish, report
METRICS_FILE = REPORTS / "metrics.json"  # the primary family's (train.model) metrics: the contract path
REPORT = REPORTS / "report.html"
# Not a DVC output and no stage's: a private content-keyed feature cache for tools that evaluate many sample
# sets outside the pipeline (bench/gates.py); the stages read the features store above.
FEATURE_CACHE = DATA / "cache" / "features"
EVALUATE_PLOTS = ("class_histogram", "spectrum", "prdc")  # reports/evaluate/<family>/plots/<name>.json


def checkpoints_dir(family: str) -> Path:
    """last.pt and ema.pt of one family."""
    return TRAIN_DIR / family


def train_metrics_path(family: str) -> Path:
    return TRAIN_REPORTS / family / "metrics.json"


def train_curves_dir(family: str) -> Path:
    """DVCLive's per-metric .tsv histories."""
    return TRAIN_REPORTS / family / "plots" / "metrics"


def train_grid_path(family: str) -> Path:
    return TRAIN_REPORTS / family / "samples.png"


def samples_path(family: str) -> Path:
    return SAMPLE_DIR / family / "samples.parquet"


def rejected_path(family: str) -> Path:
    return SAMPLE_DIR / family / "rejected.parquet"


def sample_summary_path(family: str) -> Path:
    return SAMPLE_REPORTS / family / "summary.json"


def sample_grid_path(family: str) -> Path:
    return SAMPLE_REPORTS / family / "grid.png"


def metrics_path(family: str) -> Path:
    return EVALUATE_REPORTS / family / "metrics.json"


def plots_dir(family: str) -> Path:
    return EVALUATE_REPORTS / family / "plots"


def plot_path(family: str, name: str) -> Path:
    """One of evaluate's plot files: class_histogram, spectrum or prdc."""
    if name not in EVALUATE_PLOTS:
        raise ValueError(f"unknown plot {name!r}; evaluate writes {', '.join(EVALUATE_PLOTS)}")
    return plots_dir(family) / f"{name}.json"


def nearest_path(family: str) -> Path:
    return EVALUATE_DIR / family / "nearest.parquet"


def declared(family: str) -> set[Path]:
    """Every path above that dvc.yaml also names, for ``family`` (the consistency test's side of the check)."""
    fixed = {
        INGEST_TRAIN,
        INGEST_TEST,
        INGEST_REJECTED,
        INGEST_SUMMARY,
        INGEST_CLASSES,
        VALIDATED_TRAIN,
        VALIDATED_TEST,
        QUARANTINE,
        VALIDATION_SUMMARY,
        VALIDATION_METRICS,
        DATA_DOCS,
        AUGMENTED_TRAIN,
        AUGMENT_SUMMARY,
        CLASSIFIER_CHECKPOINT,
        CLASSIFIER_METRICS,
        FEATURE_STORE,
        FEATURES_SUMMARY,
        METRICS_FILE,
        REPORT,
        TRAIN_DIR,  # sample@<family>'s dep: sample.ensemble may name another family's checkpoint
        TRAIN_REPORTS,
        SAMPLE_DIR,
        SAMPLE_REPORTS,
        EVALUATE_DIR,
        EVALUATE_REPORTS,
    }
    per_family = {
        checkpoints_dir(family),
        train_metrics_path(family),
        train_curves_dir(family),
        train_grid_path(family),
        samples_path(family),
        rejected_path(family),
        sample_summary_path(family),
        sample_grid_path(family),
        metrics_path(family),
        plots_dir(family),
        nearest_path(family),
        *(plot_path(family, name) for name in EVALUATE_PLOTS),
    }
    return fixed | per_family
