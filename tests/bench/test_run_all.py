"""bench/run_all.py: the results table builds from result JSONs (no timings are asserted: benchmarks are not tests)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run_all import build_table, discover, load_results, rows_from_figures, write_table


def _result(directory: Path, name: str, figures: dict) -> None:
    payload = {
        "name": name,
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {"cpus": 2, "torch": "2.13.0"},
        "figures": figures,
    }
    (directory / f"{name}.json").write_text(json.dumps(payload))


def test_table_has_a_row_per_ratio_group_and_explicit_rows(tmp_path: Path) -> None:
    _result(
        tmp_path,
        "metrics",
        {
            "quick": True,
            "fd": {"size": "10 x 4", "pytorch_fid_s": 3.0, "genqc_s": 1.0, "speedup": 3.0, "genqc_value": 1.25},
        },
    )
    _result(tmp_path, "prefect", {"dvc_repro_s": 5.0, "flow_s": 15.0, "flow_over_dvc_repro_ratio": 3.0})
    _result(
        tmp_path,
        "gpu",
        {"table": [{"what": "GPU training | dcgan", "genqc": "1 img/s", "peer": "-", "ratio": "2.00x"}]},
    )
    _result(tmp_path, "plain", {"seconds": 4.0})
    (tmp_path / "broken.json").write_text("{")
    target = write_table(directory=tmp_path)
    text = target.read_text()
    assert target.name == "README.md"
    assert "| metrics | fd (10 x 4) | genqc_s 1 s | pytorch_fid_s 3 s | speedup **3x** |" in text
    assert "| prefect | overall | flow_s 15 s | dvc_repro_s 5 s | flow_over_dvc_repro_ratio **3x** |" in text
    assert "| gpu | GPU training \\| dcgan | 1 img/s | - | 2.00x |" in text  # a pipe in a cell is escaped
    assert "| plain | (no ratio recorded; see the JSON) |" in text
    assert "- `metrics` (quick): 2026-01-01T00:00:00+00:00; cpus 2, torch 2.13.0" in text
    assert "broken" not in text


def test_failed_benchmarks_are_listed() -> None:
    text = build_table([], [{"name": "train", "status": "exit 1", "seconds": 3.0}])
    assert "## Not measured in the last run" in text and "- `train`: exit 1" in text


def test_rows_ignore_targets_and_booleans() -> None:
    rows = rows_from_figures(
        "augment", {"target_ratio": 5.0, "defaults": {"ratio_1thread": 8.0, "ok": True, "genqc_images_per_s": 80.0}}
    )
    assert [r["what"] for r in rows] == ["defaults"] and rows[0]["genqc"] == "genqc_images_per_s 80 img/s"


def test_every_benchmark_module_is_discovered_and_results_load(tmp_path: Path) -> None:
    names = discover()
    assert {"augment", "metrics", "gpu"} <= set(names) and not {"common", "run_all", "device_check"} & set(names)
    assert (
        names.index("gpu")
        == len(
            [
                n
                for n in names
                if n in ("augment", "validate", "metrics", "features", "train", "prefect_overhead", "gpu")
            ]
        )
        - 1
    )
    assert load_results(tmp_path) == []
