"""The streamed ingest against the in-memory one it replaced: the same tables from every source kind.

The digests below were taken with the ingest that loaded whole datasets into
memory (commit f1b6375) on the datasets tests/tasks/ingest_cases.py builds; the
streamed ingest must give the same rows, ids, labels, pixels, split, metadata,
rejections (with reasons), classes.json and summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import real_params, run_genqc, write_params
from tests.tasks.ingest_cases import CASES, build_case, output_digest

IN_MEMORY_INGEST = {
    "digits": "dcb87e123b0604e7702856012c5effe3ded6a493793170bddb0b49385ee18f07",
    "shapes_rgb": "ee2f5e6aea90271061a0a6ab681556c9a72add96725dd993c05146427fa2232e",
    "folder": "6fce21a7e5afc8605e92f8443b78174a5791414d2970f2a0b46e0e02fc739b6c",
    "npz_metadata": "c45d6e159f43ab5c24ce3bf4d2539e7f95526e045748d134a0077ce332dd930f",
    "parquet_split": "2aa13a70c003b4a3e605b5a56f3711e641c3e265bcfcf0d3559d8e5dda35b009",
    "idx_gz": "a7817d5302cb371c89e71918c696e2bab19fa0f0e7eb3fbfc1bbada354b3a94e",
}


def test_every_case_has_a_pinned_digest() -> None:
    assert set(IN_MEMORY_INGEST) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_streamed_ingest_gives_the_tables_of_the_in_memory_ingest(tmp_path: Path, name: str) -> None:
    source_root = tmp_path / "src"
    params = real_params()  # the digests were taken with params.yaml's ingest section and the case's overrides
    params["ingest"] = {**params["ingest"], **build_case(name, source_root)}
    work = tmp_path / "work"
    work.mkdir()
    write_params(work, params)
    result = run_genqc("ingest", cwd=work)
    assert result.returncode == 0, result.stderr
    out = work / "data" / "ingest"
    assert sorted(p.name for p in out.iterdir()) == [  # no staging file left behind
        "classes.json",
        "rejected.parquet",
        "summary.json",
        "test.parquet",
        "train.parquet",
    ]
    assert output_digest(out, source_root) == IN_MEMORY_INGEST[name]
