"""Benchmark: GPU throughput of genqc's hot paths and the share of the device's peak they reach.

Run: ``python -m bench.gpu [--quick]`` on a machine with CUDA; without one it
prints why it skipped and exits 0, writing nothing (an earlier GPU result stays).
``--device cpu`` rehearses the same code on the CPU (host-clock timings, no peaks,
nothing written): how ``bench/device_check.sh`` is checked before it travels.
On one device, in one run:

- reference peaks: a measured dense matmul (bf16, and fp32 with TF32 off) and,
  for known devices (H100 SXM/PCIe/NVL, H200, A100), the datasheet dense peak;
- feature extraction images/s per extractor (fp32, as the metrics use it);
- training images/s per model family with bf16 autocast on and off: the real
  loop (``genqc.training.loop.train``) without checkpoints or logs;
- sampling images/s per family (``genqc.sampling.sample_images``, per-image seeds).

The share of peak is achieved FLOP/s over the peak: FLOPs per image are counted
by ``torch.utils.flop_counter.FlopCounterMode`` on one batch (matmuls and
convolutions, forward and backward), times the measured images/s. Small 32x32
models are launch-bound, so a few percent of peak is expected; the figure says
how much headroom a bigger batch or ``train.compile`` could buy.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import write_result
from bench.features import _extractors, _mnist
from genqc.config import TrainParams
from genqc.models.registry import build_model
from genqc.sampling import Source, sample_images
from genqc.training.loop import TrainConfig, train

# Dense (no sparsity) datasheet peaks in TFLOP/s: bf16 tensor cores, fp32 without tensor cores.
DATASHEET_TFLOPS = {
    "H100 SXM": {"bf16": 989.4, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.0, "fp32": 51.2},
    "H100 NVL": {"bf16": 835.5, "fp32": 60.0},
    "H200": {"bf16": 989.4, "fp32": 66.9},
    "A100": {"bf16": 312.0, "fp32": 19.5},
}
FAMILIES = ("dcgan", "vae", "ddpm")
#: ``--device cpu``: every size cut to a toy one (the rehearsal checks the code path, not the speed)
TOY_IMAGES, TOY_BATCH = 16, 8


def datasheet_peak(device_name: str) -> tuple[str, dict[str, float]] | None:
    """The datasheet entry for a CUDA device name (``NVIDIA H100 80GB HBM3`` is the SXM part), or None."""
    name = device_name.upper()
    if "H200" in name:
        return "H200", DATASHEET_TFLOPS["H200"]
    if "H100" in name:
        key = "H100 PCIe" if "PCIE" in name else "H100 NVL" if "NVL" in name else "H100 SXM"
        return key, DATASHEET_TFLOPS[key]
    if "A100" in name:
        return "A100", DATASHEET_TFLOPS["A100"]
    return None


def _synchronize(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _release(device: Any) -> None:
    """Hand cached blocks back between measurements (CUDA only; a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def _device_seconds(fn: Any, *, repeat: int, device: Any) -> float:
    """Best per-call time of ``fn`` over ``repeat`` calls after one warm-up call: CUDA events on a GPU."""
    fn()
    _synchronize(device)
    best = float("inf")
    for _ in range(repeat):
        if torch.device(device).type != "cuda":
            start_s = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start_s)
            continue
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000.0)
    return best


def measured_matmul_peak(*, quick: bool) -> dict[str, float]:
    """TFLOP/s of a large square matmul in bf16 and in fp32 with TF32 off (the reachable ceiling)."""
    n = 4096 if quick else 8192
    out: dict[str, float] = {"matmul_size": n}
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for dtype, key in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            a = torch.randn(n, n, device="cuda", dtype=dtype)
            b = torch.randn(n, n, device="cuda", dtype=dtype)
            seconds = _device_seconds(lambda a=a, b=b: a @ b, repeat=5 if quick else 20, device="cuda")
            out[f"measured_{key}_tflops"] = 2 * n**3 / seconds / 1e12
            del a, b
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    torch.cuda.empty_cache()
    return out


def _flops(fn: Any) -> int:
    """Matmul and convolution FLOPs of one call of ``fn`` (forward and whatever backward it runs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _share(flops_per_image: float, images_per_s: float, peak_tflops: float | None) -> float | None:
    if not peak_tflops:
        return None
    return flops_per_image * images_per_s / (peak_tflops * 1e12)


def feature_extraction(*, quick: bool, peaks: dict[str, float], device: Any, toy: bool = False) -> dict[str, Any]:
    """images/s of each extractor on MNIST digits (fp32, TF32 off), with achieved TFLOP/s and share of peak."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(device)
    counts = {"classifier": 4096, "effnet_lite0": 2048, "inception": 1024}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, extractor in _extractors(Path(workdir)).items():
            images = _mnist(TOY_IMAGES if toy else counts[name] // (4 if quick else 1))
            n = len(images)
            batch = TOY_BATCH if toy else 256
            extractor.to(device).eval()

            def run(extractor: Any = extractor, images: Any = images, batch: int = batch) -> None:
                extractor.extract(images, layers=["pool"], batch_size=batch, device=device)

            seconds = _device_seconds(run, repeat=2 if quick else 3, device=device)
            with torch.inference_mode():
                x = extractor.preprocess(torch.from_numpy(images[:batch]).to(device).permute(0, 3, 1, 2))
                flops = _flops(lambda extractor=extractor, x=x: extractor.forward_layers(x))
            rate = n / seconds
            per_image = flops / batch
            out[name] = {
                "images": n,
                "batch_size": batch,
                "images_per_s": rate,
                "gflops_per_image": per_image / 1e9,
                "achieved_tflops": per_image * rate / 1e12,
                "share_of_measured_fp32_peak": _share(per_image, rate, peaks.get("measured_fp32_tflops")),
                "share_of_datasheet_fp32_peak": _share(per_image, rate, peaks.get("datasheet_fp32_tflops")),
            }
            print(f"features {name}: {rate:,.0f} images/s", flush=True)
            extractor.to("cpu")
            _release(device)
    return out


def _model(family: str) -> Any:
    torch.manual_seed(0)
    section = getattr(TrainParams(), family).model_dump()
    return build_model(family, {**section, "image_size": 32, "channels": 1, "num_classes": 0})


def _train_flops_per_image(family: str, batch_size: int, device: Any) -> float:
    """FLOPs of one optimisation step (every group's forward and backward) per image, fp32 on the device."""
    model = _model(family).to(device).train()
    images = torch.rand(batch_size, 1, 32, 32, device=device) * 2 - 1

    def step(model: Any = model) -> None:
        for name in model.groups():
            model.loss(name, images, None, 0)["loss"].float().backward()

    flops = _flops(step)
    model.cpu()
    _release(device)
    return flops / batch_size


def training(*, quick: bool, peaks: dict[str, float], device: Any, toy: bool = False) -> dict[str, Any]:
    """Training images/s per family, bf16 autocast on and off, from the real loop's own throughput figure."""
    images = torch.from_numpy(_digits(4096))
    batch_size, log_every = (TOY_BATCH, 2) if toy else (256, 20 if quick else 50)
    out: dict[str, Any] = {}
    for family in FAMILIES:
        per_image = _train_flops_per_image(family, batch_size, device)
        row: dict[str, Any] = {"batch_size": batch_size, "gflops_per_image": per_image / 1e9}
        for bf16 in (True, False):
            cfg = TrainConfig(
                steps=3 * log_every,
                batch_size=batch_size,
                bf16=bf16,
                deterministic=False,
                log_every=log_every,
                ema_decay=0.999,
            )
            result = train(
                _model(family), images, None, cfg, fields={}, run_dir=None, log_dir=None, device=torch.device(device)
            )
            key = "bf16" if bf16 else "fp32"
            peak = peaks.get(f"measured_{key}_tflops")
            row[f"{key}_images_per_s"] = result.images_per_s  # the last log interval: warm-up excluded
            row[f"{key}_share_of_measured_peak"] = _share(per_image, result.images_per_s, peak)
            row[f"{key}_share_of_datasheet_peak"] = _share(
                per_image, result.images_per_s, peaks.get(f"datasheet_{key}_tflops")
            )
            _release(device)
        row["bf16_speedup"] = row["bf16_images_per_s"] / row["fp32_images_per_s"]
        out[family] = row
        print(
            f"train {family}: bf16 {row['bf16_images_per_s']:,.0f} / fp32 {row['fp32_images_per_s']:,.0f} images/s",
            flush=True,
        )
    return out


def sampling(*, quick: bool, device: Any, toy: bool = False) -> dict[str, Any]:
    """Sampling images/s per family with per-image seeds (the sample stage's path), EMA module = the model's own."""
    out: dict[str, Any] = {}
    n, batch_size = (TOY_IMAGES, TOY_BATCH) if toy else (512 if quick else 2048, 256)
    for family in FAMILIES:
        model = _model(family).to(device).eval()
        source = Source(family, model, model.ema_module())

        def run(source=source) -> None:
            sample_images([source], n, seed=0, batch_size=batch_size, device=device)

        run()  # warm-up: cuDNN algorithm choice, allocator
        _synchronize(device)
        start = time.perf_counter()
        run()
        _synchronize(device)
        out[family] = {"images": n, "batch_size": batch_size, "images_per_s": n / (time.perf_counter() - start)}
        print(f"sample {family}: {out[family]['images_per_s']:,.0f} images/s", flush=True)
        del model, source
        _release(device)
    return out


def _digits(n: int) -> Any:
    """uint8 (n, 32, 32, 1) MNIST digits padded to 32x32, tiled to n."""
    pixels = _mnist(n)
    return np.pad(pixels, ((0, 0), (2, 2), (2, 2), (0, 0)))  # (N, 28, 28, 1) -> (N, 32, 32, 1)


def _table(figures: dict[str, Any]) -> list[dict[str, str]]:
    """Rows for bench/results/README.md: throughput and share of the measured peak (no peer on the GPU side)."""
    rows = []
    for family, row in figures["training"].items():
        rows.append(
            {
                "what": f"GPU training {family} (batch {row['batch_size']})",
                "genqc": f"bf16 {row['bf16_images_per_s']:,.0f} img/s "
                f"({_pct(row['bf16_share_of_measured_peak'])} of bf16 matmul peak)",
                "peer": f"fp32 {row['fp32_images_per_s']:,.0f} img/s",
                "ratio": f"{row['bf16_speedup']:.2f}x",
            }
        )
    for name, row in figures["features"].items():
        rows.append(
            {
                "what": f"GPU features {name}",
                "genqc": f"{row['images_per_s']:,.0f} img/s",
                "peer": "-",
                "ratio": f"{_pct(row['share_of_measured_fp32_peak'])} of fp32 matmul peak",
            }
        )
    for family, row in figures["sampling"].items():
        rows.append(
            {"what": f"GPU sampling {family}", "genqc": f"{row['images_per_s']:,.0f} img/s", "peer": "-", "ratio": "-"}
        )
    return rows


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def rehearse() -> dict[str, Any]:
    """The same measurements on the CPU at toy sizes: proves the code path, measures nothing worth keeping."""
    figures: dict[str, Any] = {"quick": True, "device": "cpu (rehearsal at toy sizes; not a GPU figure)", "peaks": {}}
    figures["features"] = feature_extraction(quick=True, peaks={}, device="cpu", toy=True)
    figures["training"] = training(quick=True, peaks={}, device="cpu", toy=True)
    figures["sampling"] = sampling(quick=True, device="cpu", toy=True)
    figures["table"] = _table(figures)
    return figures


def run(quick: bool = False) -> dict[str, Any]:
    """All GPU figures; ``{"skipped": reason}`` without CUDA (nothing is written then)."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device (torch.cuda.is_available() is False); run on a GPU machine"}
    props = torch.cuda.get_device_properties(0)
    peaks: dict[str, Any] = measured_matmul_peak(quick=quick)
    sheet = datasheet_peak(props.name)
    if sheet is not None:
        peaks["datasheet_part"] = sheet[0]
        peaks.update({f"datasheet_{k}_tflops": v for k, v in sheet[1].items()})
    figures: dict[str, Any] = {
        "quick": quick,
        "device": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "capability": f"{props.major}.{props.minor}",
        "peaks": peaks,
    }
    print(
        f"{props.name}: measured bf16 {peaks['measured_bf16_tflops']:.0f} TFLOP/s, fp32 "
        f"{peaks['measured_fp32_tflops']:.1f} TFLOP/s",
        flush=True,
    )
    figures["features"] = feature_extraction(quick=quick, peaks=peaks, device="cuda")
    figures["training"] = training(quick=quick, peaks=peaks, device="cuda")
    figures["sampling"] = sampling(quick=quick, device="cuda")
    figures["table"] = _table(figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller matmuls, fewer images and steps")
    parser.add_argument(
        "--device",
        choices=["cuda", "cpu"],
        default="cuda",
        help="cpu: rehearse the code at toy sizes; prints the figures, writes nothing",
    )
    args = parser.parse_args()
    if args.device == "cpu":
        print(json.dumps(rehearse()["table"], indent=1))
        return
    figures = run(quick=args.quick)
    if "skipped" in figures:
        print(f"bench.gpu skipped: {figures['skipped']}")
        return
    print(f"-> {write_result('gpu', figures)}")


if __name__ == "__main__":
    main()
