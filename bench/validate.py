"""Benchmark: the validate stage on 70,000 Fashion-MNIST images, and its near-duplicate search vs the peers.

Run: ``python -m bench.validate [--quick]``. Two measurements in one run:

1. the whole stage: ``genqc ingest`` then ``genqc validate`` as subprocesses in a
   scratch directory with the repository's params.yaml, source
   ``idx:/usr/share/datasets/fashion-mnist`` and ``ingest.split: source`` (60k
   train, 10k test), OMP_NUM_THREADS=2. The validate wall time includes Python
   start-up and the Great Expectations import. ``--quick`` uses builtin:mnist5k.
2. the near-duplicate search alone, on the real pHashes of the ingested train
   split: genqc's pigeonhole search (``hamming_pairs``) against (a) the loop a
   user writes with the ``imagehash`` package (``h1 - h2 <= d`` for every pair)
   and (b) a naive NumPy all-pairs matrix (``bitwise_count`` of the full N x N
   XOR). Each peer runs on the largest subset it finishes in seconds; genqc runs
   on the same subset, so every ratio compares equal work, and on the full split.
   All three must return the same pairs.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench.common import best_time, write_result
from genqc.quality.duplicates import hamming_pairs

REPO = Path(__file__).resolve().parents[1]
FASHION = "/usr/share/datasets/fashion-mnist"
HAMMING = 4  # params.yaml's validate.near_duplicate_hamming


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _genqc(command: str, cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, CPU s, process): CPU time is reported too because the shared machine's wall time is noisy."""
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(REPO))
    start, cpu = time.perf_counter(), _cpu_children()
    done = subprocess.run(
        [sys.executable, "-m", "genqc.cli", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    return time.perf_counter() - start, _cpu_children() - cpu, done


def stage(source: str, workdir: Path) -> dict:
    """Ingest then validate ``source`` in ``workdir``; wall times, exit code and the quarantine counts."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["source"] = source
    if source.startswith("idx:"):
        params["ingest"]["split"] = "source"
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ingest_s, _, ingest = _genqc("ingest", workdir)
    if ingest.returncode != 0:
        raise RuntimeError(f"genqc ingest failed:\n{ingest.stderr}")
    validate_s, validate_cpu_s, validate = _genqc("validate", workdir)
    summary = yaml.safe_load((workdir / "reports/validation/summary.json").read_text())
    failed = {name: e["rows"] for name, e in summary["expectations"].items() if not e["success"]}
    return {
        "source": source,
        "ingest_s": round(ingest_s, 2),
        "validate_s": round(validate_s, 2),
        "validate_cpu_s": round(validate_cpu_s, 2),
        "validate_exit_code": validate.returncode,
        "rows": summary["rows"],
        "failed_expectations": failed,
    }


def imagehash_loop(hashes: np.ndarray, max_distance: int) -> set[tuple[int, int]]:
    """What a user writes with the imagehash package: ImageHash objects, compared pair by pair."""
    import imagehash  # the peer (from the [test] extra): only this comparison needs it

    bits = np.unpackbits(hashes.view(np.uint64).astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    objects = [imagehash.ImageHash(b.reshape(8, 8).astype(bool)) for b in bits]  # (64,) -> (8, 8) per hash
    return {
        (i, j)
        for i in range(len(objects))
        for j in range(i + 1, len(objects))
        if objects[i] - objects[j] <= max_distance
    }


def numpy_all_pairs(hashes: np.ndarray, max_distance: int) -> set[tuple[int, int]]:
    """The vectorised brute force: the full N x N Hamming matrix at once."""
    u = hashes.view(np.uint64)
    close = np.triu(np.bitwise_count(u[:, None] ^ u[None, :]) <= max_distance, k=1)  # (N, 1) ^ (1, N) -> (N, N)
    return set(zip(*(x.tolist() for x in np.nonzero(close)), strict=True))


def search(hashes: np.ndarray, quick: bool) -> dict:
    def genqc_pairs(subset: np.ndarray) -> set[tuple[int, int]]:
        left, right = hamming_pairs(subset, max_distance=HAMMING)
        return set(zip(left.tolist(), right.tolist(), strict=True))

    figures: dict = {"hamming": HAMMING, "hashes": len(hashes)}
    for peer, fn, size in (
        ("imagehash_loop", imagehash_loop, 300 if quick else 1500),
        ("numpy_all_pairs", numpy_all_pairs, 2000 if quick else 12000),
    ):
        subset = hashes[:size]
        peer_s, peer_pairs = best_time(lambda s=subset, f=fn: f(s, HAMMING), repeat=1, warmup=0)
        genqc_s, ours = best_time(lambda s=subset: genqc_pairs(s), repeat=3)
        if ours != peer_pairs:
            raise AssertionError(f"{peer} and genqc disagree on {size} hashes")
        figures[peer] = {
            "subset": size,
            "pairs": len(ours),
            "peer_s": round(peer_s, 4),
            "genqc_s": round(genqc_s, 4),
            "ratio": round(peer_s / genqc_s, 1),
        }
    full_s, (left, _) = best_time(lambda: hamming_pairs(hashes, max_distance=HAMMING), repeat=1, warmup=0)
    figures["genqc_full"] = {"hashes": len(hashes), "pairs": len(left), "seconds": round(full_s, 2)}
    return figures


def run(quick: bool = False) -> dict:
    source = "builtin:mnist5k" if quick or not Path(FASHION).is_dir() else f"idx:{FASHION}"
    with tempfile.TemporaryDirectory(prefix="genqc-bench-validate-") as tmp:
        figures = {"stage": stage(source, Path(tmp)), "target_validate_s": 60.0}
        hashes = pd.read_parquet(Path(tmp) / "data/ingest/train.parquet", columns=["phash"])["phash"].to_numpy()
    figures["near_duplicate_search"] = search(np.ascontiguousarray(hashes, dtype=np.int64), quick)
    write_result("validate", figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="builtin:mnist5k and small search subsets")
    figures = run(quick=parser.parse_args().quick)
    st = figures["stage"]
    print(
        f"{st['source']}: ingest {st['ingest_s']:.1f}s, validate {st['validate_s']:.1f}s wall, "
        f"{st['validate_cpu_s']:.1f}s CPU "
        f"(exit {st['validate_exit_code']}), rows {st['rows']}"
    )
    print(f"failed expectations (name: rows): {st['failed_expectations']}")
    nd = figures["near_duplicate_search"]
    for peer in ("imagehash_loop", "numpy_all_pairs"):
        f = nd[peer]
        print(
            f"near-dup search on {f['subset']} hashes ({f['pairs']} pairs): {peer} {f['peer_s']:.3f}s, "
            f"genqc {f['genqc_s']:.4f}s, ratio {f['ratio']:.0f}x"
        )
    full = nd["genqc_full"]
    print(f"genqc on all {full['hashes']} train hashes: {full['seconds']:.2f}s ({full['pairs']} candidate pairs)")


if __name__ == "__main__":
    main()
