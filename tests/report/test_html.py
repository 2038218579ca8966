"""genqc/report/html.py: the page is a pure function of ReportData; data never becomes markup."""

from __future__ import annotations

import re

from genqc.report.html import SECTIONS, fmt, headline_keys, render
from genqc.report.load import FamilyOutputs, Missing, ReportData, Revision
from tests.report.conftest import EVIL, _metrics, _png


def _data(**overrides) -> ReportData:
    families = [FamilyOutputs("dcgan", metrics=_metrics(passed=True)), FamilyOutputs("vae", metrics=_metrics(False))]
    base = dict(
        families=families,
        primary="dcgan",
        class_names={0: EVIL},
        gate_limits={"max": {"fd_classifier_ratio": 20.0}, "min": {"precision_classifier": 0.3}},
        params_text=f"train:\n  model: dcgan  # {EVIL}\n",
        revision=Revision("abc123", True, "f00d"),
    )
    base.update(overrides)
    return ReportData(**base)


def test_every_section_has_its_id_and_the_page_loads_nothing_external() -> None:
    page = render(_data())
    for section_id, _ in SECTIONS:
        assert f'<section id="{section_id}"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page.lower()
    assert "default-src 'none'" in page  # the CSP forbids any fetch even if a future edit adds one


def test_strings_from_data_and_params_are_escaped() -> None:
    families = [
        FamilyOutputs(
            "dcgan",
            metrics=_metrics(True),
            class_rows=[(EVIL, [_png(0)])],
            class_histogram=[{"class": 0, "real": 1.0, "generated": 1.0}],
        )
    ]
    page = render(_data(families=families))
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # modes_missing, class row, params


def test_verdict_names_each_family_and_the_failed_gate() -> None:
    page = render(_data())
    banner = page.split('id="verdict"', 1)[1].split("</section>", 1)[0]
    assert 'class="banner fail"' in banner and "Quality gates FAILED" in banner
    assert "PASS</span>dcgan (primary): 2 of 2 gates passed" in banner
    assert "FAIL</span>vae: 1 of 2 gates passed; failed: <code>max_fd_classifier_ratio</code>" in banner


def test_all_passing_families_give_a_green_banner() -> None:
    page = render(_data(families=[FamilyOutputs("dcgan", metrics=_metrics(True))]))
    assert 'class="banner pass"' in page and "All quality gates passed" in page


def test_metrics_show_interval_floor_limit_and_verdict() -> None:
    page = render(_data())
    table = page.split('id="metrics"', 1)[1].split("</section>", 1)[0]
    assert "12 [10.8, 13.2]" in table and "floor 1.5" in table  # dcgan's fd_classifier
    assert "&le; 20" in table and "&ge; 0.3" in table
    assert '<td class="num fail">60 <span class="tag fail">FAIL</span>' in table  # vae's fd ratio 90 / 1.5


def test_a_weak_evaluation_classifier_is_flagged_above_the_metrics() -> None:
    weak = render(_data(classifier_metrics={"test_accuracy": 0.41, "evaluator_ok": False, "min_accuracy": 0.8}))
    table = weak.split('id="metrics"', 1)[1].split("</section>", 1)[0]
    assert "test accuracy: <strong>0.41</strong>" in table
    assert "WARNING:</strong> below classifier.min_accuracy=0.8" in table
    good = render(_data(classifier_metrics={"test_accuracy": 0.99, "evaluator_ok": True, "min_accuracy": 0.8}))
    assert "WARNING:</strong> below classifier.min_accuracy" not in good


def test_headline_keys_put_gated_metrics_first_and_drop_qualifiers() -> None:
    keys = headline_keys([FamilyOutputs("dcgan", metrics=_metrics(True))])
    assert keys[:2] == ["fd_classifier_ratio", "precision_classifier"]
    assert not [k for k in keys if k.endswith(("_ci_low", "_ci_high", "_floor", "_se")) or k.startswith("gate")]


def test_missing_inputs_are_listed_in_their_section_with_the_stage_that_makes_them() -> None:
    missing = [Missing("curves", "reports/train/vae/plots/metrics", "not found", "run `dvc repro train@vae`")]
    page = render(_data(families=[FamilyOutputs("vae")], missing=missing))
    curves = page.split('id="curves"', 1)[1].split("</section>", 1)[0]
    assert "reports/train/vae/plots/metrics" in curves and "run `dvc repro train@vae`" in curves
    assert "N/A</span>vae (primary): not evaluated" not in page  # vae is not the primary here
    assert "vae: not evaluated" in page and 'class="banner unknown"' in page


def test_an_empty_report_still_renders_every_section() -> None:
    page = render(ReportData(families=[], primary="dcgan"))
    assert page.count("Nothing to show") >= 8
    assert "unknown (no git repository)" in page and "no dvc.lock" in page


def test_fmt() -> None:
    assert (fmt(None), fmt(True), fmt(3), fmt(0.123456), fmt(float("nan"))) == ("n/a", "true", "3", "0.1235", "nan")
    assert fmt({"dcgan": 1.2, "vae:x.pt": 1.0}) == "dcgan 1.2, vae:x.pt 1"


def test_the_sample_summary_says_how_the_samples_were_drawn() -> None:
    summary = {"accepted": 64, "requested": 64, "use_ema": True, "latent_scale": {"dcgan": 1.2}, "seconds": 3.5}
    page = render(_data(families=[FamilyOutputs("dcgan", metrics=_metrics(True), sample_summary=summary)]))
    assert "accepted: 64, requested: 64, use_ema: true, latent_scale: dcgan 1.2</p>" in page
