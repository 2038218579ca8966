"""The training loop: one engine for every GenerativeModel, on CPU or CUDA, in one or N processes.

Each step takes the global batch of ``BatchOrder`` (a pure function of seed and
step), reseeds torch from (seed, step, rank) so the model's noise is reproducible
too, and for each optimisation group in order: loss -> (+ L1 penalty) -> backward
-> all-reduce (N processes) -> clip -> finite check -> AdamW step. Then the EMA
follows the sampling module. Every ``checkpoint_every`` steps rank 0 writes
``last.pt`` and ``ema.pt`` atomically; a re-run resumes from ``last.pt`` and, with
deterministic settings on one device, ends with the same weights as a run that
never stopped.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genqc.errors import DataError
from genqc.training.checkpoint import (
    EMA_FILE,
    LAST,
    check_compatible,
    read_checkpoint,
    restore_rng,
    save_sampling_weights,
    save_training_state,
)
from genqc.training.device import autocast, configure_determinism, memory_format
from genqc.training.distributed import DistContext, all_reduce_grads_, all_reduce_mean_, broadcast_module_, split_batch
from genqc.training.ema import EMA
from genqc.training.order import BatchOrder, step_seed


@dataclass(frozen=True)
class TrainConfig:
    """The general training knobs; field names are params.yaml's ``train.*`` keys (messages cite them)."""

    steps: int
    batch_size: int  # the GLOBAL batch: split evenly across processes
    lr: float
    seed: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    l1: float = 0.0  # L1 penalty on each group's weight matrices/kernels (not biases or norm scales)
    grad_clip: float = 0.0  # max global grad norm per group; 0: measure the norm, do not clip
    ema_decay: float = 0.999  # 0 disables EMA
    ema_warmup: bool = True  # decay min(ema_decay, (1 + n) / (10 + n)) after n updates
    checkpoint_every: int = 500
    image_every: int = 500
    log_every: int = 10
    compile: bool = False
    bf16: bool = True
    deterministic: bool = True
    grid_size: int = 64  # samples in the logged grid (8 x 8)


@dataclass
class TrainResult:
    """What a run did: steps run in this process, the final step, the last logged values and throughput."""

    start_step: int
    final_step: int
    values: dict[str, float] = field(default_factory=dict)
    images_per_s: float = 0.0
    seconds: float = 0.0
    checkpoint: Path | None = None
    sampling_checkpoint: Path | None = None
    samples_png: Path | None = None
    ema: bool = True


def _echo(ctx: DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, flush=True)


def _build_optimizers(model: nn.Module, groups: dict[str, list[nn.Parameter]], cfg: TrainConfig) -> dict:
    overrides = getattr(model, "optim_overrides", dict)()
    unknown = sorted(set(overrides) - set(groups))
    if unknown:
        raise ValueError(f"optim_overrides names groups {unknown} that {type(model).__name__} does not have")
    return {
        name: torch.optim.AdamW(
            params, **{"lr": cfg.lr, "betas": cfg.betas, "weight_decay": cfg.weight_decay, **overrides.get(name, {})}
        )
        for name, params in groups.items()
    }


def _to_batch(images: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float32 (B, C, H, W) in [-1, 1], the same maths as genqc.data.tensors."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def sample_grid(model: nn.Module, module: nn.Module, n: int, *, seed: int, device: torch.device) -> Any:
    """A fixed-seed uint8 grid of ``n`` samples from ``module`` (labels cycle through the classes)."""
    from genqc.data.tensors import tensor_to_uint8
    from genqc.training.grid import image_grid

    classes = int(model.config_dict().get("num_classes", 0) or 0)
    labels = torch.arange(n, device=device) % classes if classes else None
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        images = model.sample(n, labels=labels, generator=generator, module=module)
    return image_grid(tensor_to_uint8(images), nrow=math.ceil(math.sqrt(n)))


class _Progress:
    """tqdm bar with ETA on a terminal (rank 0); otherwise one summary line every ``every`` steps."""

    def __init__(self, ctx: DistContext, start: int, total: int, every: int) -> None:
        self.ctx, self.total, self.every = ctx, total, every
        self.bar = None
        self.t0, self.start = time.perf_counter(), start
        if ctx.is_main and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, done: int, values: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if values:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items() if k.endswith("/loss")}, refresh=False)
            return
        if not self.ctx.is_main or (done % self.every and done != self.total):
            return
        elapsed = time.perf_counter() - self.t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        losses = "  ".join(f"{k}={v:.4g}" for k, v in values.items() if k.endswith("/loss"))
        eta = _format_eta((self.total - done) / rate) if rate > 0 else "?"
        print(f"step {done}/{self.total}  {losses}  {rate:.2f} step/s  eta {eta}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    cfg: TrainConfig,
    *,
    fields: dict[str, Any],
    run_dir: Path | None,
    log_dir: Path | None,
    device: torch.device,
    ctx: DistContext | None = None,
) -> TrainResult:
    """Train ``model`` on uint8 (N, H, W, C) ``images`` for ``cfg.steps`` steps in total, resuming if it can.

    ``fields`` is the flat mapping of settings fingerprinted into the checkpoint
    (a resume with other values is refused). ``run_dir`` None skips checkpoints and
    ``log_dir`` None skips DVCLive and sample grids (the benchmark measures the
    loop alone that way). Raises DataError on a non-finite loss or gradient.
    """
    ctx = ctx or DistContext()
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"train needs uint8 (N, H, W, C) images, got {images.dtype} {tuple(images.shape)}")
    local_batch = split_batch(cfg.batch_size, ctx.world)
    configure_determinism(cfg.deterministic)
    fmt = memory_format(device)
    model.to(device=device, memory_format=fmt)
    model.train()
    family = getattr(model, "family", type(model).__name__)
    groups = model.groups()
    optimizers = _build_optimizers(model, groups, cfg)
    weights = {name: [p for p in params if p.ndim > 1] for name, params in groups.items()}
    ema = EMA(model.ema_module(), cfg.ema_decay, warmup=cfg.ema_warmup) if cfg.ema_decay > 0 else None
    if ema is None:
        _echo(ctx, "EMA disabled <train.ema_decay=0>; sampling uses the raw weights")

    last = run_dir / LAST if run_dir is not None else None
    start, saved_step = 0, None
    if last is not None and last.is_file():
        state = read_checkpoint(last)
        check_compatible(state, fields, last)
        model.load_state_dict(state["model"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        restore_rng(state["rng"])
        start = saved_step = int(state["step"])
        _echo(ctx, f"resuming from {last} at step {start} of {cfg.steps}")
        if start >= cfg.steps:
            _echo(ctx, f"{last} already reaches train.steps={cfg.steps}; raise train.steps to train further")
    broadcast_module_(model, ctx)
    if cfg.compile:
        for child in model.children():
            child.compile()

    images = images.to(device)
    labels = labels.to(device) if labels is not None else None
    order = BatchOrder(len(images), cfg.batch_size, cfg.seed)
    logger = None
    if log_dir is not None and ctx.is_main:
        from genqc.training.live import TrainLog

        logger = TrainLog(log_dir, resume_step=start)
    progress = _Progress(ctx, start, cfg.steps, every=max(cfg.log_every, math.ceil(cfg.steps / 20)))
    config = model.config_dict()
    result = TrainResult(start_step=start, final_step=start, ema=ema is not None)
    values: dict[str, float] = {}
    t_start = t_log = time.perf_counter()
    steps_since_log = 0

    def write_checkpoints(done: int) -> None:
        save_training_state(last, model=model, optimizers=optimizers, ema_state=ema.state_dict() if ema else None,
                            step=done, family=family, config=config, fields=fields)  # fmt: skip
        sampler = ema.module if ema is not None else model.ema_module()
        save_sampling_weights(run_dir / EMA_FILE, module=sampler, ema=ema is not None, step=done, family=family,
                              config=config, fields=fields)  # fmt: skip

    try:
        for step in range(start, cfg.steps):
            done = step + 1
            index = order.indices(step)[ctx.rank * local_batch : (ctx.rank + 1) * local_batch].to(device)
            batch = _to_batch(images[index], fmt)
            batch_labels = labels[index] if labels is not None else None
            torch.manual_seed(step_seed(cfg.seed, step, ctx.rank))
            for name, params in groups.items():
                optimizer = optimizers[name]
                optimizer.zero_grad(set_to_none=True)
                with autocast(device, bf16=cfg.bf16):
                    out = model.loss(name, batch, batch_labels, step)
                total = out["loss"].float()
                if cfg.l1 > 0 and weights[name]:
                    total = total + cfg.l1 * torch.stack([w.abs().sum() for w in weights[name]]).sum()
                total.backward()
                all_reduce_grads_(params, ctx)
                grads = [p.grad for p in params if p.grad is not None]
                if cfg.grad_clip > 0:
                    norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                else:
                    norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=device)
                keys = list(out)
                stats = torch.stack([out[k].detach().float().reshape(()) for k in keys] + [norm.float()])
                all_reduce_mean_([stats], ctx)
                numbers = stats.tolist()
                loss_value, norm_value = numbers[keys.index("loss")], numbers[-1]
                if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                    kept = f"the last good checkpoint {last} (step {saved_step}) is intact" if saved_step else (
                        "no checkpoint had been written yet")  # fmt: skip
                    raise DataError(
                        f"non-finite loss at step {done} of {cfg.steps} (group {name!r}: loss={loss_value}, "
                        f"grad_norm={norm_value}); stopped before updating the weights and {kept}. "
                        "Lower train.lr, set train.grad_clip, or check the training images."
                    )
                optimizer.step()
                values.update({f"{name}/{k}": v for k, v in zip(keys, numbers, strict=False)})
                values[f"{name}/grad_norm"] = norm_value
            if ema is not None:
                ema.update(model.ema_module())
            steps_since_log += 1
            result.final_step = done
            is_last = done == cfg.steps
            if done % cfg.log_every == 0 or is_last:
                now = time.perf_counter()
                result.images_per_s = steps_since_log * cfg.batch_size / max(now - t_log, 1e-9)
                t_log, steps_since_log = now, 0
                if logger is not None:
                    lrs = {f"lr/{name}": opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
                    logger.log(done, {**values, **lrs, "images_per_s": result.images_per_s})
            if last is not None and ctx.is_main and (done % cfg.checkpoint_every == 0 or is_last):
                write_checkpoints(done)
                saved_step = done
            if logger is not None and (done % cfg.image_every == 0 or is_last):
                logger.image(sample_grid(model, ema.module if ema else model.ema_module(), cfg.grid_size,
                                         seed=cfg.seed, device=device))  # fmt: skip
            progress.update(done, values)
        if start >= cfg.steps and ctx.is_main:
            # nothing left to train: refresh the sampling outputs from the checkpoint so the stage's outs exist
            if last is not None:
                sampler = ema.module if ema is not None else model.ema_module()
                save_sampling_weights(run_dir / EMA_FILE, module=sampler, ema=ema is not None, step=start,
                                      family=family, config=config, fields=fields)  # fmt: skip
            if logger is not None:
                logger.image(sample_grid(model, ema.module if ema else model.ema_module(), cfg.grid_size,
                                         seed=cfg.seed, device=device))  # fmt: skip
    finally:
        progress.close()
        if logger is not None:
            logger.close()
    result.values = values
    result.seconds = time.perf_counter() - t_start
    if last is not None:
        result.checkpoint, result.sampling_checkpoint = last, run_dir / EMA_FILE
    if logger is not None:
        result.samples_png = logger.directory / "samples.png"
    return result


def check_resumable(run_dir: Path, fields: dict[str, Any]) -> None:
    """Refuse early (before spawning workers or loading data) when ``last.pt`` came from other settings."""
    last = run_dir / LAST
    if last.is_file():
        check_compatible(read_checkpoint(last), fields, last)
