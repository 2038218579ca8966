"""The validate stage end to end: injected problems are quarantined with the right reasons and fail the gate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_digits

from genqc.cli import main as genqc_main
from genqc.data.table import IMAGE, decode_images, images_to_table
from genqc.io import write_parquet
from tests.conftest import REPO, write_params

SIZE = 16  # tiny_params' ingest.image_size


def _digits(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sklearn digits, 8x8 -> 16x16 by pixel repetition, ``per_class`` of each label, sorted by label."""
    digits = load_digits()
    images = np.round(digits.images * 255 / 16).astype(np.uint8)
    images = images.repeat(2, axis=1).repeat(2, axis=2)[..., None]  # (N, 8, 8) -> (N, 16, 16, 1)
    _, first = np.unique(images.reshape(len(images), -1), axis=0, return_index=True)  # no accidental copies
    keep = np.sort(first)
    picks = np.concatenate([keep[digits.target[keep] == c][:per_class] for c in range(10)])
    return images[picks], digits.target[picks]


def _table(images: np.ndarray, labels: np.ndarray, prefix: str, groups: list[str]) -> pd.DataFrame:
    ids = [f"{prefix}-{i:04d}" for i in range(len(images))]
    return images_to_table(images, labels, ids, extra={"group": groups})


def _clean_splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    images, labels = _digits(per_class=16)  # 12 train + 4 test per class
    position = np.arange(len(images)) % 16
    train_rows, test_rows = np.flatnonzero(position < 12), np.flatnonzero(position >= 12)
    train = _table(images[train_rows], labels[train_rows], "train", ["a", "b"] * (len(train_rows) // 2))
    test = _table(images[test_rows], labels[test_rows], "test", ["a", "b"] * (len(test_rows) // 2))
    return train, test


def _with_problems() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    """The clean splits plus one row per problem; returns the id each problem should be found on."""
    train, test = _clean_splits()
    base = decode_images(train)
    near = base[1].copy()
    near[0, 0:2, 0] ^= 64  # two pixels edited by 64: mean |difference| 0.5 on the 0-255 scale
    extra_images = np.stack([base[0], near, np.zeros_like(base[0]), np.full_like(base[0], 255), base[3]])
    labels = train["label"].to_numpy()
    # 10:1 class imbalance: 108 more images of class 9 (12 -> 120), all in group "a" (attribute imbalance too).
    rng = np.random.default_rng(0)
    nines = base[labels == 9]
    bulk = np.clip(
        nines[rng.integers(0, len(nines), 108)].astype(int) + rng.integers(0, 60, (108, SIZE, SIZE, 1)), 0, 255
    ).astype(np.uint8)
    added = _table(
        np.concatenate([extra_images, bulk]),
        np.array([labels[0], labels[1], 0, 0, labels[3]] + [9] * 108),
        "added",
        ["a"] * 113,
    )
    wrong_size = _table(np.zeros((1, SIZE + 4, SIZE + 4, 1), dtype=np.uint8) + 100, np.array([2]), "wrong", ["b"])
    train = pd.concat([train, added, wrong_size], ignore_index=True)
    corrupt = int(np.flatnonzero(train["id"] == "added-0004")[0])
    train.loc[corrupt, IMAGE] = b"\x89PNG\r\n\x1a\n this is not a PNG"
    leak = _table(base[2:3], labels[2:3], "leak", ["a"])
    test = pd.concat([test, leak], ignore_index=True)
    expected = {
        "added-0000": ["exact_duplicate"],
        "added-0001": ["near_duplicate"],
        "added-0002": ["blank", "near_constant"],
        "added-0003": ["saturated", "near_constant"],
        "added-0004": ["decode"],
        "wrong-0000": ["size", "near_constant"],
        "leak-0000": ["leakage"],
    }
    return train, test, expected


def _write_ingest(workdir: Path, train: pd.DataFrame, test: pd.DataFrame) -> None:
    write_parquet(train, workdir / "data/ingest/train.parquet")
    write_parquet(test, workdir / "data/ingest/test.parquet")


def _params(tiny_params: dict) -> dict:
    tiny_params.setdefault("validate", {})["attributes"] = ["group"]
    return tiny_params


def test_every_injected_problem_is_quarantined_and_fails_the_gate(
    workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test, expected = _with_problems()
    _write_ingest(workdir, train, test)
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 1
    out, err = capsys.readouterr()
    assert "gate FAILED" in out and "error-level expectation(s) failed" in err

    quarantine = pd.read_parquet(workdir / "data/validate/quarantine.parquet")
    reasons = {row.id: list(row.reasons) for row in quarantine.itertuples()}
    assert reasons == expected  # each problem found with every reason that applies, and no clean row touched
    assert quarantine.set_index("id").loc["leak-0000", "split"] == "test"  # the test-side copy is quarantined
    assert "train-0000" not in reasons and "train-0002" not in reasons  # first copies stay clean
    clean_train = pd.read_parquet(workdir / "data/validate/train.parquet")
    clean_test = pd.read_parquet(workdir / "data/validate/test.parquet")
    assert len(clean_train) + len(clean_test) + len(quarantine) == len(train) + len(test)

    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    results = summary["expectations"]
    assert summary["passed"] is False
    for name in (
        "train.exact_duplicate",
        "train.blank",
        "train.saturated",
        "train.decode",
        "train.size.height",
        "test.leakage",
        "train.class_balance",
        "train.label_kl",
        "train.attribute_balance.group",
        "train.attribute_kl.group",
    ):
        assert results[name]["success"] is False, name
    assert results["train.near_duplicate"]["severity"] == "warning" and results["train.near_duplicate"]["rows"] >= 1
    assert results["train.decode"]["rows"] == 1
    assert results["train.label_kl"]["observed"] > 0.05
    assert "9: share" in results["train.class_balance"]["observed"]
    for line in ("train.class_balance", "test.leakage", "train.blank"):
        assert line in out  # the failure table names the checks
    assert (workdir / "reports/validation/docs/index.html").is_file()
    stored = next((workdir / "gx/uncommitted/validations").rglob("*.json")).read_text()
    assert "PNG" not in stored and "bytes>" in stored  # failing rows are listed without their image bytes


def test_the_same_data_without_problems_passes(
    workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = _clean_splits()
    _write_ingest(workdir, train, test)
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 0
    assert "gate PASSED" in capsys.readouterr().out
    assert len(pd.read_parquet(workdir / "data/validate/quarantine.parquet")) == 0
    assert len(pd.read_parquet(workdir / "data/validate/train.parquet")) == len(train)
    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    assert summary["passed"] is True and all(e["success"] for e in summary["expectations"].values())
    docs = workdir / "reports/validation/docs"
    assert (docs / "index.html").is_file() and list(docs.glob("validations/**/*.html"))
    leftovers = {p.name for p in workdir.iterdir()} - {"data", "reports", "gx", "params.yaml"}
    assert not leftovers, f"GX wrote outside reports/validation and gx/: {leftovers}"


def test_missing_ingest_output_exits_2_and_says_to_run_ingest(
    tiny_workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert genqc_main(["validate"]) == 2
    assert "run `genqc ingest`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"max_kl": -1}, "validate.max_kl=-1"),
        ({"severity": {"blank": "fatal"}}, "validate.severity.blank"),
        ({"blank_max_mean": 254}, "blank_max_mean=254"),
        ({"nearduplicate_hamming": 3}, "validate.nearduplicate"),
    ],
)
def test_bad_validate_params_exit_2_naming_the_key(
    tiny_workdir: Path, tiny_params: dict, override: dict, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_params["validate"] = {**tiny_params.get("validate", {}), **override}
    write_params(tiny_workdir, tiny_params)
    assert genqc_main(["validate"]) == 2
    assert needle in capsys.readouterr().err


def test_unknown_attribute_column_exits_2(workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture[str]) -> None:
    train, test = _clean_splits()
    _write_ingest(workdir, train.drop(columns="group"), test.drop(columns="group"))
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 2
    assert "validate.attributes names ['group']" in capsys.readouterr().err


def test_help_does_not_import_great_expectations() -> None:
    code = (
        "import sys; from genqc.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('great_expectations' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_ci_workflow_runs_the_gate_and_always_uploads_the_report() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/data-quality.yml").read_text())
    job = workflow["jobs"]["validate"]
    steps = job["steps"]
    commands = [s.get("run", "") for s in steps]
    install = next(c for c in commands if "pip install" in c)
    assert install.index("torch==2.13.0") < install.index('pip install "$GENQC_REQUIREMENT"')  # CPU torch first
    assert "-e ." not in install and job["env"]["GENQC_REQUIREMENT"].startswith("genqc @ ")  # genqc as a dependency
    assert any(c.strip() == "genqc ingest" for c in commands) and any(c.strip() == "genqc validate" for c in commands)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"].rstrip("/") == "reports/validation"
    actions = [s["uses"] for s in steps if "uses" in s]
    assert actions and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", a) for a in actions)  # pinned by SHA
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False


def test_ci_workflows_pass_zizmor() -> None:
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(zizmor).is_file():
        pytest.skip("zizmor not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [zizmor, "--offline", str(REPO / ".github/workflows")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _chromium_dom(page: Path, tmp: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium with the network features off."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("headless Chromium not installed (apt-get install -y chromium)")
    profile = tmp / "chromium-profile"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _warning_only_splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clean splits plus one near-duplicate train image: only a warning-level check fails."""
    train, test = _clean_splits()
    near = decode_images(train)[1].copy()
    near[0, 0:2, 0] ^= 64
    extra = images_to_table(near[None], train["label"].to_numpy()[1:2], ["near-0000"], extra={"group": ["a"]})
    return pd.concat([train, extra], ignore_index=True), test


def test_a_warning_only_run_reads_passed_with_warnings_everywhere(
    workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = _warning_only_splits()
    _write_ingest(workdir, train, test)
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "gate PASSED WITH WARNINGS" in out and "train.near_duplicate" in out

    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    assert summary["status"] == "passed with warnings" and summary["passed"] is True
    metrics = json.loads((workdir / "reports/validation/metrics.json").read_text())
    n = len(summary["expectations"])
    assert metrics == {
        "expectations_passed": n - 1,
        "errors_failed": 0,
        "warnings_failed": 1,
        "rows_clean": len(train) + len(test) - 1,
        "rows_quarantined": 1,
    }

    docs = workdir / "reports/validation/docs"
    page = next(docs.glob("validations/**/*.html")).read_text()
    assert "Passed with warnings" in page and "Failed" not in page.split("Status:")[1][:400]
    dom = _chromium_dom(docs / "index.html", workdir)
    assert "ge-warning-icon" in dom and "ge-failed-icon" not in dom  # the index's status agrees with the gate


def test_data_docs_open_offline_with_bounded_history_and_say_genqc_checks_in_words(
    workdir: Path, tiny_params: dict
) -> None:
    train, test = _clean_splits()
    _write_ingest(workdir, train, test)
    params = _params(tiny_params)
    params["validate"]["history"] = 2
    write_params(workdir, params)
    for _ in range(3):
        assert genqc_main(["validate"]) == 0
    runs = list((workdir / "gx/uncommitted/validations").glob("genqc/*/*/*.json"))
    assert len(runs) == 2  # history bounded by validate.history

    docs = workdir / "reports/validation/docs"
    for page in docs.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), page  # no CDN asset left
    dom = _chromium_dom(docs / "index.html", workdir)
    rows = re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)"', dom)
    assert len(rows) == 2 and all((docs / unquote(r)).is_file() for r in rows)  # the index lists the kept runs
    suite_page = " ".join(re.sub(r"<[^>]+>", " ", (docs / "expectations/genqc.html").read_text()).split())
    assert (
        "If qc_split == train and qc_usable == True, then no image is a near-duplicate of an earlier image: "
        "perceptual hashes within 4 bits of 64 and a mean pixel difference of at most 1.0" in suite_page
    )
    assert "no test image is identical to a train image" in suite_page


def test_the_gx_project_opens_with_gx_api_and_its_checkpoint_reruns(workdir: Path, tiny_params: dict) -> None:
    train, test = _clean_splits()
    _write_ingest(workdir, train, test)
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 0
    code = textwrap.dedent("""
        import great_expectations as gx, pandas as pd
        import genqc.quality.expectations  # registers genqc's Expectation classes
        context = gx.get_context(mode="file", project_root_dir=".")
        suite = context.suites.get("genqc")
        point = context.checkpoints.get("genqc")
        print(len(suite.expectations), [a.type for a in point.actions])
        print(sorted({e.severity.value for e in suite.expectations}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, actions = done.stdout.splitlines()[0].split(" ", 1)
    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    assert int(count) == len(summary["expectations"]) and "update_data_docs" in actions
    assert done.stdout.splitlines()[1] == "['critical', 'warning']"  # GX 1.x native severity


def test_duplicate_ids_are_caught_and_the_later_rows_quarantined(workdir: Path, tiny_params: dict) -> None:
    train, test = _clean_splits()
    train.loc[train.index[:40], "id"] = "same-id"
    _write_ingest(workdir, train, test)
    write_params(workdir, _params(tiny_params))
    assert genqc_main(["validate"]) == 1
    quarantine = pd.read_parquet(workdir / "data/validate/quarantine.parquet")
    assert len(quarantine) == 39 and all(list(r) == ["duplicate_id"] for r in quarantine["reasons"])
    summary = json.loads((workdir / "reports/validation/summary.json").read_text())
    assert summary["expectations"]["train.duplicate_id"]["rows"] == 39  # GX counts what the quarantine acted on


def test_the_old_class_kl_severity_key_exits_2_naming_label_kl(
    tiny_workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    severity = dict(tiny_params["validate"]["severity"])
    severity["class_kl"] = severity.pop("label_kl")
    tiny_params["validate"]["severity"] = severity
    write_params(tiny_workdir, tiny_params)
    assert genqc_main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "class_kl was renamed label_kl" in err and "validate.severity.label_kl" in err
