"""Training throughput: genqc's trainer against a minimal plain-PyTorch loop, same model and batch, one run.

For each family (dcgan, vae, ddpm) three variants train a freshly seeded model
for the same number of steps, interleaved and repeated (best time kept):

- ``plain``: the loop a user would write by hand: random batch, and for each
  group zero_grad -> loss -> backward -> AdamW step. No EMA, no checks.
- ``trainer``: genqc.training.loop.train with no checkpoints and no logging: adds
  the (seed, step) data order and reseeding, EMA, grad norms, the finite check.
- ``trainer+io``: the same with DVCLive every 10 steps, last.pt + ema.pt every
  10 steps (20x more often than the default) and the final 16-sample grid.

The overhead is ``plain_images_per_s / variant_images_per_s - 1`` (wall time) and
``variant_cpu_s / plain_cpu_s - 1`` (process CPU time, the steadier figure on a
shared machine; on CPU the run uses one intra-op thread for the same reason). Peak memory is
the CUDA allocator's peak per variant on a GPU, the process's peak RSS on CPU.

    python -m bench.train            # 32x32 mnist5k, batch 32, 10 steps, best of 2
    python -m bench.train --quick    # 16x16 digits, 4 steps, 1 repeat
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import peak_rss_mb, write_result
from genqc.config import TrainParams
from genqc.data.sources import load_source
from genqc.models.registry import build_model
from genqc.training.loop import TrainConfig, train

FAMILIES = ("dcgan", "vae", "ddpm")


def _images(quick: bool) -> torch.Tensor:
    source, size = ("builtin:digits", 16) if quick else ("builtin:mnist5k", 32)
    loaded = load_source(source, size=size, channels=1, resize="stretch" if quick else "pad")
    return torch.from_numpy(loaded.images)


def _model(family: str, size: int):
    torch.manual_seed(0)
    section = getattr(TrainParams(), family).model_dump()
    return build_model(family, {**section, "image_size": size, "channels": 1, "num_classes": 0})


def plain_loop(model, images: torch.Tensor, *, steps: int, batch_size: int, device: torch.device) -> None:
    """What a user writes by hand: the baseline the trainer's overhead is measured against."""
    model.to(device).train()
    images = images.to(device)
    settings = model.optimizer_settings()  # the family's own lr, betas and decay, as the trainer uses
    optimizers = {g: torch.optim.AdamW(p, **settings[g]) for g, p in model.groups().items()}
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator).to(device)
        batch = images[index].permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)  # (B,H,W,C) -> (B,C,H,W)
        for group, optimizer in optimizers.items():
            optimizer.zero_grad(set_to_none=True)
            model.loss(group, batch, None, step)["loss"].backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def _trainer(model, images, *, steps: int, batch_size: int, device: torch.device, io: bool) -> None:
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        checkpoint_every=10,
        log_every=10,
        image_every=10**9,
        grid_size=16,
        deterministic=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_dir, log_dir = (Path(tmp) / "run", Path(tmp) / "log") if io else (None, None)
        train(model, images, None, cfg, fields={}, run_dir=run_dir, log_dir=log_dir, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()


def _measure(
    family: str, images: torch.Tensor, *, steps: int, batch_size: int, repeats: int, device: torch.device
) -> dict[str, Any]:
    size = images.shape[1]

    def variants(n: int) -> dict:
        common = {"steps": n, "batch_size": batch_size, "device": device}
        return {
            "plain": lambda m: plain_loop(m, images, **common),
            "trainer": lambda m: _trainer(m, images, io=False, **common),
            "trainer+io": lambda m: _trainer(m, images, io=True, **common),
        }

    for fn in variants(2).values():  # warm-up: first-call costs (imports, allocator) out of the timings
        fn(_model(family, size))
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    memory: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in variants(steps).items():
            model = _model(family, size)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(model)
            wall[name] = min(wall.get(name, float("inf")), time.perf_counter() - start)
            cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - start_cpu)
            memory[name] = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
    ips = {name: steps * batch_size / seconds for name, seconds in wall.items()}
    return {
        "images_per_s": ips,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_memory_mb": memory,
        "overhead_trainer": ips["plain"] / ips["trainer"] - 1,
        "overhead_trainer_io": ips["plain"] / ips["trainer+io"] - 1,
        # CPU seconds of this process: on a shared machine, far less sensitive to other processes than wall time
        "cpu_overhead_trainer": cpu["trainer"] / cpu["plain"] - 1,
        "cpu_overhead_trainer_io": cpu["trainer+io"] / cpu["plain"] - 1,
    }


def run(quick: bool) -> dict[str, Any]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        # one intra-op thread: on a shared machine, OpenMP threads spin-wait for each other and turn
        # other users' load into noise in both wall and CPU time; one thread keeps the ratio stable
        torch.set_num_threads(1)
    images = _images(quick)
    steps, batch_size, repeats = (4, 16, 1) if quick else (10, 32, 2)
    memory_kind = "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS"
    figures: dict[str, Any] = {
        "device": device.type,
        "image_size": int(images.shape[1]),
        "steps": steps,
        "batch_size": batch_size,
        "repeats": repeats,
        "memory_kind": memory_kind,
    }
    for family in FAMILIES:
        figures[family] = _measure(family, images, steps=steps, batch_size=batch_size, repeats=repeats, device=device)
        row = figures[family]
        ips = row["images_per_s"]
        print(
            f"{family:6s} plain {ips['plain']:8.1f} img/s  trainer {ips['trainer']:8.1f} "
            f"({row['overhead_trainer']:+.1%})  trainer+io {ips['trainer+io']:8.1f} "
            f"({row['overhead_trainer_io']:+.1%});  cpu-time overhead {row['cpu_overhead_trainer']:+.1%} / "
            f"{row['cpu_overhead_trainer_io']:+.1%}",
            flush=True,
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny images and few steps (a smoke run)")
    args = parser.parse_args()
    figures = run(args.quick)
    print(f"wrote {write_result('train' if not args.quick else 'train_quick', figures)}")


if __name__ == "__main__":
    main()
