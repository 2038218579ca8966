"""Training curves on resume: rows after the resumed step are dropped by replacing each file, never in place."""

from __future__ import annotations

from pathlib import Path

from genqc.training.live import truncate_history


def test_resume_trims_the_curves_by_replacing_the_files(tmp_path: Path) -> None:
    curve = tmp_path / "plots" / "metrics" / "g" / "loss.tsv"
    curve.parent.mkdir(parents=True)
    curve.write_text("timestamp\tstep\tloss\n1\t1\t0.5\n2\t2\t0.4\n3\t3\t0.3\n")
    untouched = tmp_path / "plots" / "metrics" / "lr.tsv"
    untouched.write_text("timestamp\tstep\tlr\n1\t1\t0.1\n")
    with curve.open() as reader_before:  # a reader holding the old file keeps seeing it whole
        assert truncate_history(tmp_path / "plots", last_step=2) == 1
        assert reader_before.read().count("\n") == 4
    assert curve.read_text() == "timestamp\tstep\tloss\n1\t1\t0.5\n2\t2\t0.4\n"
    assert untouched.read_text() == "timestamp\tstep\tlr\n1\t1\t0.1\n"
    assert sorted(p.name for p in curve.parent.iterdir()) == ["loss.tsv"]  # no temporary file left behind
