"""Metric benchmarks, genqc side by side with the implementation a user would pick instead.

Run: ``python -m bench.metrics [--quick]`` (full size takes minutes on 2 cores).

- FD from two 50,000 x 2,048 feature sets, covariances included, against pytorch-fid's
  path. pytorch-fid needs torchvision, which cannot be installed beside our torch, so
  :func:`pytorch_fid_path` is a faithful re-implementation of its
  ``calculate_activation_statistics`` tail + ``calculate_frechet_distance``: np.mean,
  np.cov(rowvar=False), ``scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)``, the
  eps-offset retry, the imaginary-part check and the trace formula.
- Precision/recall/density/coverage on 10,000 vs 10,000 x 2,048 against the ``prdc``
  package (k = 5 for all four, as prdc computes one k per call); then 50,000 vs 50,000
  in a subprocess to measure peak memory (ru_maxrss, features included).
- KID on 50,000 x 2,048 (100 subsets of 1,000) against clean-fid's ``kernel_distance`` loop
  in its own dtype (float32: the features come out of the network in float32 and the loop
  keeps them so), on the same subsets, interleaved, best of ``repeats``. Accuracy of both
  against the same loop in float64 (the reference), on the benchmark features and on the
  same features moved to mean 1e3 (where float32 products are 73% off, issue #16).

Synthetic features: ReLU of a low-rank correlated Gaussian plus noise (non-negative and
correlated like CNN pool features); the fake set is shifted and rescaled slightly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np
import torch
from scipy import linalg
from scipy.linalg.blas import sgemm

from bench.common import RESULTS, peak_rss_mb, write_result
from genqc.metrics import FD, KID_MEAN, fd_from_features, kid_from_features, prdc
from genqc.metrics.kid import kid_subset_indices


def synthetic_features(n: int, d: int, *, seed: int, fake: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(1234).standard_normal((32, d)).astype(np.float32) / 4
    latent = rng.standard_normal((n, 32), dtype=np.float32)
    x = latent @ basis
    x += rng.standard_normal((n, d), dtype=np.float32) * 0.5
    if fake:
        x *= 1.05
        x += 0.05
    np.maximum(x, 0.0, out=x)
    return x


def pytorch_fid_path(real: np.ndarray, fake: np.ndarray, eps: float = 1e-6) -> float:
    """pytorch-fid's statistics and calculate_frechet_distance, line for line."""
    mu1, sigma1 = np.mean(real, axis=0), np.cov(real, rowvar=False)
    mu2, sigma2 = np.mean(fake, axis=0), np.cov(fake, rowvar=False)
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy >= 1.16 deprecates disp=
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def numpy_kid(
    real: np.ndarray, fake: np.ndarray, subsets: list[tuple[np.ndarray, np.ndarray]], dtype: type = np.float64
) -> tuple[float, float]:
    """clean-fid / StyleGAN's unbiased MMD² loop (clean-fid's ``kernel_distance``), in ``dtype``, on given subsets.

    clean-fid runs it on the network's float32 features as they are (``dtype=np.float32``).
    """
    n = real.shape[1]
    values = []
    for ri, fi in subsets:
        m = len(ri)
        x, y = fake[fi].astype(dtype), real[ri].astype(dtype)
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        values.append(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)
    return float(np.mean(values)), float(np.std(values))


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def race(runs: dict[str, Any], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Best time and last result of each contender, runs interleaved ``repeats`` times.

    Interleaved so that a burst of load on a shared machine hits every contender alike;
    the best time because load only ever adds time.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    values: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds, values[name] = timed(fn)
            times[name].append(seconds)
    return {name: min(t) for name, t in times.items()}, values


def bench_fd(n: int, d: int, repeats: int = 2) -> dict[str, Any]:
    real, fake = synthetic_features(n, d, seed=0), synthetic_features(n, d, seed=1, fake=True)
    runs = {
        "pytorch_fid": lambda: pytorch_fid_path(real, fake),
        "genqc": lambda: fd_from_features(real, fake)[FD],  # float32 features: float32 block products
        "genqc_float64_products": lambda: fd_from_features(real, fake, matmul_dtype="float64")[FD],
    }
    times, values = race(runs, repeats)
    out: dict[str, Any] = {"size": f"{n} x {d} vs {n} x {d}, float32 features", "repeats": repeats, "timing": "best"}
    for name in runs:
        out[f"{name}_s"] = times[name]
        out[f"{name}_value"] = values[name]
        if name != "pytorch_fid":
            out[f"speedup_{name}"] = times["pytorch_fid"] / times[name]
            out[f"rel_diff_{name}"] = abs(values[name] - values["pytorch_fid"]) / abs(values["pytorch_fid"])
    return out


def bench_prdc(n: int, d: int, repeats: int = 2) -> dict[str, Any]:
    from prdc import compute_prdc  # the peer (from the [test] extra): only this comparison needs it

    real = synthetic_features(n, d, seed=2).astype(np.float64)
    fake = synthetic_features(n, d, seed=3, fake=True).astype(np.float64)
    # Both sides start with their libraries loaded and warm, as the peer's sklearn is by its import.
    warm = np.ones((64, 64), dtype=np.float32)
    sgemm(1.0, warm, warm)
    torch.ones(64, 64) @ torch.ones(64, 64)

    def peer() -> dict[str, float]:
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
            return {k: float(v) for k, v in compute_prdc(real, fake, 5).items()}

    cpu: dict[str, list[float]] = {}

    def with_cpu_time(name: str, fn: Any) -> Any:
        # CPU seconds of the process beside wall time: a shared machine's load inflates wall time more.
        def run() -> Any:
            start = time.process_time()
            out = fn()
            cpu.setdefault(name, []).append(time.process_time() - start)
            return out

        return run

    runs = {"prdc_package": peer, "genqc": lambda: prdc(real, fake, k_prc=5, k_dc=5, inclusion="<")}
    times, values = race({name: with_cpu_time(name, fn) for name, fn in runs.items()}, repeats)
    ours, theirs = values["genqc"], values["prdc_package"]
    return {
        "size": f"{n} x {d} vs {n} x {d} float64, k=5",
        "repeats": repeats,
        "timing": "best, interleaved",
        "prdc_package_s": times["prdc_package"],
        "genqc_s": times["genqc"],
        "speedup": times["prdc_package"] / times["genqc"],
        "prdc_package_cpu_s": min(cpu["prdc_package"]),
        "genqc_cpu_s": min(cpu["genqc"]),
        "prdc_package_values": theirs,
        "genqc_values": ours,
        "identical": all(abs(theirs[k] - ours[k]) < 1e-12 for k in ours),
    }


def prdc_memory_child(n: int, d: int) -> None:
    """Run in a subprocess: genqc prdc on n vs n float32 features; print time and peak RSS."""
    real, fake = synthetic_features(n, d, seed=4), synthetic_features(n, d, seed=5, fake=True)
    rss_inputs = peak_rss_mb()
    seconds, values = timed(lambda: prdc(real, fake))
    print(
        json.dumps(
            {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_after_inputs_mb": rss_inputs, "values": values}
        )
    )


def bench_prdc_memory(n: int, d: int) -> dict[str, Any]:
    code = f"from bench.metrics import prdc_memory_child; prdc_memory_child({n}, {d})"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["size"] = f"{n} x {d} vs {n} x {d} (float32 features)"
    result["under_4gb"] = result["peak_rss_mb"] < 4096
    return result


def bench_kid(n: int, d: int, subsets: int, subset_size: int, repeats: int = 3) -> dict[str, Any]:
    real, fake = synthetic_features(n, d, seed=6), synthetic_features(n, d, seed=7, fake=True)
    idx = kid_subset_indices(n, n, subset_size=subset_size, subsets=subsets, seed=0)
    runs = {
        "cleanfid_float32": lambda: numpy_kid(real, fake, idx, np.float32)[0],
        "genqc": lambda: kid_from_features(real, fake, subset_size=subset_size, subsets=subsets, seed=0)[KID_MEAN],
    }
    times, values = race(runs, repeats)
    reference = numpy_kid(real, fake, idx, np.float64)[0]
    # Accuracy where float32 products break: the same features 1e3 from the origin (a few subsets suffice).
    few = idx[: min(5, subsets)]
    offset_real, offset_fake = real + np.float32(1e3), fake + np.float32(1e3)
    offset_reference = numpy_kid(offset_real, offset_fake, few, np.float64)[0]
    offset = {
        "cleanfid_float32": numpy_kid(offset_real, offset_fake, few, np.float32)[0],
        "genqc": kid_from_features(offset_real, offset_fake, subset_size=subset_size, subsets=len(few), seed=0)[
            KID_MEAN
        ],
    }
    out: dict[str, Any] = {
        "size": f"{n} x {d} float32 features, {subsets} subsets of {subset_size}",
        "repeats": repeats,
        "timing": "best, interleaved",
        "float64_reference_value": reference,
        "offset_1e3_reference_value": offset_reference,
    }
    for name in runs:
        out[f"{name}_s"] = times[name]
        out[f"{name}_value"] = values[name]
        out[f"{name}_rel_error"] = abs(values[name] - reference) / abs(reference)
        out[f"{name}_offset_1e3_rel_error"] = abs(offset[name] - offset_reference) / abs(offset_reference)
    out["speedup_vs_cleanfid_float32"] = times["cleanfid_float32"] / times["genqc"]
    return out


SECTIONS = ("fd", "kid", "prdc", "prdc_memory")


def run(quick: bool, sections: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    if quick:
        sizes = {"fd": (5000, 512), "prdc": (2000, 512), "prdc_mem": (10_000, 512), "kid": (5000, 512, 20, 500, 2)}
    else:
        sizes = {
            "fd": (50_000, 2048),
            "prdc": (10_000, 2048),
            "prdc_mem": (50_000, 2048),
            "kid": (50_000, 2048, 100, 1000),
        }
    figures: dict[str, Any] = {"quick": quick, "complete": False}
    previous = RESULTS / "metrics.json"
    if tuple(sections) != SECTIONS and previous.exists():
        # A partial run updates the sections it ran and keeps the others' last figures.
        old = json.loads(previous.read_text())["figures"]
        if old.get("quick") == quick:
            figures.update({k: v for k, v in old.items() if k in SECTIONS})
    functions = {"fd": bench_fd, "kid": bench_kid, "prdc": bench_prdc, "prdc_memory": bench_prdc_memory}
    for name in sections:
        figures[name] = functions[name](*sizes["prdc_mem" if name == "prdc_memory" else name])
        print(name, json.dumps(figures[name], default=str), flush=True)
        write_result("metrics", figures)  # after every section: a long run that is cut short keeps its figures
    figures["complete"] = all(name in figures for name in SECTIONS)
    path = write_result("metrics", figures)
    print(f"wrote {path}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="which parts to run")
    args = parser.parse_args()
    run(args.quick, tuple(args.sections))


if __name__ == "__main__":
    main()
