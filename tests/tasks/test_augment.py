"""The augment stage as a user runs it: outputs, accounting, determinism, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genqc.cli import main as genqc_main
from genqc.data.table import images_to_table
from tests.conftest import REPO, run_genqc, write_params

N = 30


def _write_validated(directory: Path, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = np.zeros((n, 16, 16, 1), np.uint8)
    images[:, 4:12, 4:12] = rng.integers(60, 256, (n, 8, 8, 1), dtype=np.uint8)
    frame = images_to_table(
        images, np.arange(n) % 3, [f"v{i:03d}" for i in range(n)], extra={"site": [f"s{i % 2}" for i in range(n)]}
    )
    path = directory / "data/validate/train.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return frame


def test_augment_writes_originals_plus_copies_identically_on_every_run(tiny_workdir: Path, tiny_params: dict) -> None:
    tiny_params["augment"]["copies"] = 2
    write_params(tiny_workdir, tiny_params)
    frame = _write_validated(tiny_workdir)
    result = run_genqc("augment", cwd=tiny_workdir)
    assert result.returncode == 0, result.stderr
    out_path = tiny_workdir / "data/augment/train.parquet"
    out = pd.read_parquet(out_path)
    assert len(out) == N * 3
    assert sorted(out["label"]) == sorted(np.repeat(frame["label"], 3))
    assert set(out["site"]) == {"s0", "s1"} and out["id"].is_unique
    summary = json.loads((tiny_workdir / "data/augment/summary.json").read_text())
    assert (summary["rows_in"], summary["copies"], summary["rows_out"]) == (N, 2, 3 * N)
    assert f"{N} originals + {2 * N} augmented = {3 * N} rows" in result.stdout
    first = out_path.read_bytes()
    assert genqc_main(["augment"]) == 0  # a second run, in-process this time: byte-identical output
    assert out_path.read_bytes() == first


def test_output_file_is_byte_identical_for_any_chunk_size_and_matches_the_in_memory_table(
    tiny_workdir: Path, tiny_params: dict
) -> None:
    from genqc.augment import augment_table, validate_ops

    frame = _write_validated(tiny_workdir)
    out_path = tiny_workdir / "data/augment/train.parquet"
    outputs = []
    for batch_size in (7, 64):
        tiny_params["augment"].update(copies=2, batch_size=batch_size)
        write_params(tiny_workdir, tiny_params)
        assert genqc_main(["augment"]) == 0
        outputs.append(out_path.read_bytes())
    assert outputs[0] == outputs[1]
    expected, _ = augment_table(
        frame, copies=2, seed=tiny_params["seed"], ops=validate_ops(tiny_params["augment"]["ops"])
    )
    pd.testing.assert_frame_equal(pd.read_parquet(out_path), expected)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"ops": {"rotate": {"p": 0.5, "magnitude": 500}}},
            "augment.ops.rotate.magnitude=500: allowed 0..180 (degrees)",
        ),
        ({"ops": {"shear": {"p": 0.5, "magnitude": 5}}}, "augment.ops.shear: unknown op; allowed: hflip, vflip"),
        ({"ops": {"noise": {"p": 2, "magnitude": 0.1}}}, "augment.ops.noise.p=2: Input should be less than or equal"),
        ({"copies": -1}, "augment.copies=-1: Input should be greater than or equal to 0"),
        ({"colour": True}, "unknown key 'augment.colour'; allowed here: batch_size, copies, ops"),
    ],
)
def test_bad_params_exit_2_naming_key_value_and_allowed(
    tiny_workdir: Path, tiny_params: dict, capsys: pytest.CaptureFixture, override: dict, message: str
) -> None:
    tiny_params["augment"].update(override)
    write_params(tiny_workdir, tiny_params)
    _write_validated(tiny_workdir)
    assert genqc_main(["augment"]) == 2
    assert message in capsys.readouterr().err
    assert not (tiny_workdir / "data/augment/train.parquet").exists()


def test_bad_magnitude_exits_2_from_the_command_line(tiny_workdir: Path, tiny_params: dict) -> None:
    tiny_params["augment"]["ops"] = {"translate": {"p": 0.5, "magnitude": 0.9}}
    write_params(tiny_workdir, tiny_params)
    result = run_genqc("augment", cwd=tiny_workdir)
    assert result.returncode == 2
    assert "augment.ops.translate.magnitude=0.9: allowed 0..0.5 (fraction of the side)" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_exits_2_and_empty_input_exits_1(tiny_workdir: Path, capsys: pytest.CaptureFixture) -> None:
    assert genqc_main(["augment"]) == 2
    assert "data/validate/train.parquet not found; run the stage that writes it" in capsys.readouterr().err
    frame = _write_validated(tiny_workdir)
    frame.iloc[:0].to_parquet(tiny_workdir / "data/validate/train.parquet", index=False)
    assert genqc_main(["augment"]) == 1
    assert "has no rows: nothing to augment" in capsys.readouterr().err


def test_dvc_stage_reads_validate_and_declares_its_params_and_outputs() -> None:
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["augment"]
    assert stage["cmd"] == "genqc augment"
    assert "data/validate/train.parquet" in stage["deps"] and "genqc/augment" in stage["deps"]
    assert set(stage["params"]) == {"seed", "augment"}
    assert stage["outs"] == ["data/augment/train.parquet"]
