"""DVC stage ``features``: the real reference sets' features, once per data version, into data/features/store.

params (seed, evaluate's extractors, caps and batch size) -> the validated tables
and the evaluation networks -> ``genqc.evaluation.references.store_reference_features``
(the capped test subset and the capped train subset, in every space evaluate reads)
-> a content-keyed store, written atomically matrix by matrix, that sample and
evaluate open read-only. No generator is an input, so a new model or new samples
never re-run it; DVC caches and pushes the store, so a teammate's ``dvc pull``
brings the features instead of an hour of extraction.
"""

from __future__ import annotations

import argparse
import time

from genqc.data.table import read_table
from genqc.evaluation.inputs import EvalSet
from genqc.evaluation.references import store_reference_features
from genqc.features.cache import FeatureCache
from genqc.io import write_json
from genqc.training.device import resolve_device
from tasks.common import evaluation_extractors, params_from_args, print_table
from tasks.paths import FEATURE_STORE, FEATURES_SUMMARY, VALIDATED_TEST, VALIDATED_TRAIN


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.evaluate
    device = resolve_device(cfg.device, key="evaluate.device")
    extractors, classifier = evaluation_extractors(cfg)
    test = EvalSet.from_table(read_table(str(VALIDATED_TEST)))
    train = EvalSet.from_table(read_table(str(VALIDATED_TRAIN)))

    start = time.perf_counter()
    stored = store_reference_features(
        test,
        train,
        FeatureCache(FEATURE_STORE),
        extractors=extractors,
        classifier=classifier,
        max_test=cfg.max_test,
        max_train=cfg.max_train,
        seed=params.seed,
        n_samples=params.sample.n,
        batch_size=cfg.batch_size,
        device=device,
    )
    seconds = time.perf_counter() - start
    summary = {
        "n_test": next(s.rows for s in stored if s.set_name == "test"),
        "n_train": next((s.rows for s in stored if s.set_name == "train"), None),
        "n_floor": next((s.rows for s in stored if s.set_name == "floor"), None),
        "matrices": len(stored),
        "extracted": sum(s.extracted for s in stored),
        "seconds": round(seconds, 2),
        "store": {f"{s.set_name}_{s.extractor}_{s.layer}": f"{s.rows}x{s.dim}" for s in stored},
    }
    write_json(summary, FEATURES_SUMMARY)

    spaces = dict.fromkeys([*extractors, *([classifier] if classifier is not None else [])])
    print(
        f"features: the real reference sets in {len(spaces)} space(s) on "
        f"{device} -> {FEATURE_STORE} ({summary['extracted']} of {len(stored)} matrices extracted, "
        f"{seconds:.1f} s; the rest were already there, verified)"
    )
    print_table(
        [
            (s.set_name, s.extractor, s.layer, f"{s.rows} x {s.dim}", "extracted" if s.extracted else "kept")
            for s in stored
        ],
        ("set", "extractor", "layer", "rows x dim", ""),
    )
    return 0
