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

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from genqc.data.tensors import tensor_to_uint8
from genqc.errors import DataError
from genqc.training.checkpoint import (
    EMA_FILE,
    LAST,
    check_compatible,
    read_checkpoint,
    save_sampling_weights,
    save_training_state,
)
from genqc.training.config import TrainConfig
from genqc.training.device import autocast, configure_determinism, memory_format
from genqc.training.distributed import DistContext, all_reduce_grads_, all_reduce_mean_, broadcast_module_, split_batch
from genqc.training.ema import EMA
from genqc.training.grid import image_grid
from genqc.training.live import TrainLog
from genqc.training.order import BatchOrder, step_seed

__all__ = ["TrainConfig", "TrainResult", "check_resumable", "sample_grid", "train"]

#: progress lines per run when stderr is no terminal: 20 keeps a CI log short, one every 5% of the run
PROGRESS_LINES = 20


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


def _build_optimizers(model: nn.Module, groups: dict[str, list[nn.Parameter]]) -> dict[str, torch.optim.Optimizer]:
    """One AdamW per group with the family's own lr, betas and weight decay (model.optimizer_settings())."""
    settings = model.optimizer_settings()
    if set(settings) != set(groups):
        raise ValueError(
            f"{type(model).__name__}.optimizer_settings() names groups {sorted(settings)} "
            f"but the model has {sorted(groups)}"
        )
    return {name: torch.optim.AdamW(params, **settings[name]) for name, params in groups.items()}


def _to_batch(images: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float32 (B, C, H, W) in [-1, 1], the same maths as genqc.data.tensors."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def sample_grid(model: nn.Module, module: nn.Module, n: int, *, seed: int, device: torch.device) -> np.ndarray:
    """A fixed-seed uint8 grid of ``n`` samples from ``module`` (labels cycle through the classes)."""
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


@dataclass
class _Run:
    """What one training run carries from step to step: the model, its optimisers and EMA, where it saves."""

    model: nn.Module
    cfg: TrainConfig
    ctx: DistContext
    device: torch.device
    fmt: torch.memory_format
    groups: dict[str, list[nn.Parameter]]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: EMA | None
    fields: dict[str, Any]
    run_dir: Path | None
    saved_step: int | None = None  # the last step in last.pt, named when a non-finite loss stops the run
    values: dict[str, float] = field(default_factory=dict)  # the latest value of every logged key
    standing: tuple[int, nn.Module] | None = None  # (step, the EMA copy with standing statistics at that step)

    @property
    def last(self) -> Path | None:
        return self.run_dir / LAST if self.run_dir is not None else None

    def sampler(self, step: int) -> nn.Module:
        """The module samples come from after ``step``: the EMA copy, or the raw module when EMA is off.

        The EMA copy gets its own BatchNorm statistics (``train.ema_bn_draws`` draws),
        computed once per step for both the grid and ``ema.pt``; the EMA state that
        ``last.pt`` keeps for a resume is left as training made it.
        """
        if self.ema is None:
            return self.model.ema_module()
        if self.standing is None or self.standing[0] != step:
            module = self.model.standing_statistics(self.ema.module, draws=self.cfg.ema_bn_draws)
            self.standing = (step, module)
        return self.standing[1]


class _Throughput:
    """Images per second over the steps since the last logged row."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size, self.steps, self.since = batch_size, 0, time.perf_counter()

    def tick(self) -> None:
        self.steps += 1

    def take(self) -> float:
        now = time.perf_counter()
        rate = self.steps * self.batch_size / max(now - self.since, 1e-9)
        self.steps, self.since = 0, now
        return rate


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"train needs uint8 (N, H, W, C) images, got {images.dtype} {tuple(images.shape)}")


def _start(
    model: nn.Module,
    cfg: TrainConfig,
    fields: dict[str, Any],
    run_dir: Path | None,
    device: torch.device,
    ctx: DistContext,
) -> _Run:
    """Put the model on its device in training mode and build its optimisers and EMA."""
    configure_determinism(cfg.deterministic)
    fmt = memory_format(device)
    model.to(device=device, memory_format=fmt)
    model.train()
    groups = model.groups()
    ema = EMA(model.ema_module(), cfg.ema_decay, warmup=cfg.ema_warmup) if cfg.ema_decay > 0 else None
    if ema is None:
        _echo(ctx, "EMA disabled <train.ema_decay=0>; sampling uses the raw weights")
    return _Run(model, cfg, ctx, device, fmt, groups, _build_optimizers(model, groups), ema, fields, run_dir)


def _resume(run: _Run) -> int:
    """Restore model, optimisers and EMA from ``last.pt`` when it exists; the step to continue from."""
    if run.last is None or not run.last.is_file():
        return 0
    state = read_checkpoint(run.last)
    check_compatible(state, run.fields, run.last)
    run.model.load_state_dict(state["model"])
    for name, optimizer in run.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    if run.ema is not None and state.get("ema") is not None:
        run.ema.load_state_dict(state["ema"])
    run.saved_step = start = int(state["step"])
    steps = run.cfg.steps
    _echo(run.ctx, f"resuming from {run.last} at step {start} of {steps}")
    if start >= steps:
        _echo(run.ctx, f"{run.last} already reaches train.steps={steps}; raise train.steps to train further")
    return start


def _local_batch(
    run: _Run, order: BatchOrder, step: int, images: torch.Tensor, labels: torch.Tensor | None, local: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This process's share of step ``step``'s global batch, as float (B, C, H, W) in [-1, 1]."""
    rank = run.ctx.rank
    index = order.indices(step)[rank * local : (rank + 1) * local].to(run.device)
    return _to_batch(images[index], run.fmt), labels[index] if labels is not None else None


def _grad_norm(params: list[nn.Parameter], clip: float, device: torch.device) -> torch.Tensor:
    """The global gradient norm before clipping; clipped to ``clip`` when it is > 0."""
    if clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    grads = [p.grad for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=device)


def _check_finite(run: _Run, name: str, done: int, loss: float, norm: float) -> None:
    """Stop before a non-finite loss or gradient reaches the weights (DataError, exit 1)."""
    if math.isfinite(loss) and math.isfinite(norm):
        return
    kept = (
        f"the last good checkpoint {run.last} (step {run.saved_step}) is intact"
        if run.saved_step
        else "no checkpoint had been written yet"
    )
    raise DataError(
        f"non-finite loss at step {done} of {run.cfg.steps} (group {name!r}: loss={loss}, grad_norm={norm}); "
        f"stopped before updating the weights and {kept}. "
        "Lower the family's lr (train.<model>.lr), set train.grad_clip, or check the training images."
    )


def _step_group(run: _Run, name: str, batch: torch.Tensor, labels: torch.Tensor | None, step: int) -> None:
    """One optimisation group on one batch: loss (+ L1) -> backward -> all-reduce -> clip -> finite check -> step."""
    params, optimizer, cfg = run.groups[name], run.optimizers[name], run.cfg
    optimizer.zero_grad(set_to_none=True)
    with autocast(run.device, bf16=cfg.bf16):
        out = run.model.loss(name, batch, labels, step)
    total = out["loss"].float()
    weights = [p for p in params if p.ndim > 1]  # matrices and kernels; biases and norm scales stay unpenalised
    if cfg.l1 > 0 and weights:
        total = total + cfg.l1 * torch.stack([w.abs().sum() for w in weights]).sum()
    total.backward()
    all_reduce_grads_(params, run.ctx)
    norm = _grad_norm(params, cfg.grad_clip, run.device)
    keys = list(out)
    stats = torch.stack([out[k].detach().float().reshape(()) for k in keys] + [norm.float()])
    all_reduce_mean_([stats], run.ctx)
    numbers = stats.tolist()
    _check_finite(run, name, step + 1, numbers[keys.index("loss")], numbers[-1])
    optimizer.step()
    run.values.update({f"{name}/{k}": v for k, v in zip(keys, numbers, strict=False)})
    run.values[f"{name}/grad_norm"] = numbers[-1]


def _train_step(run: _Run, step: int, batch: torch.Tensor, labels: torch.Tensor | None) -> None:
    """Every group in order on one batch, then the EMA; torch's RNG is reseeded from (seed, step, rank)."""
    torch.manual_seed(step_seed(run.cfg.seed, step, run.ctx.rank))
    for name in run.groups:
        _step_group(run, name, batch, labels, step)
    if run.ema is not None:
        run.ema.update(run.model.ema_module())


def _write_sampling_weights(run: _Run, step: int) -> None:
    save_sampling_weights(
        run.run_dir / EMA_FILE,
        module=run.sampler(step),
        ema=run.ema is not None,
        step=step,
        family=_family(run.model),
        config=run.model.config_dict(),
        fields=run.fields,
    )


def _write_checkpoints(run: _Run, done: int) -> None:
    """``last.pt`` (everything a resume needs) and ``ema.pt`` (what sampling needs), both atomically."""
    save_training_state(
        run.last,
        model=run.model,
        optimizers=run.optimizers,
        ema_state=run.ema.state_dict() if run.ema else None,
        step=done,
        family=_family(run.model),
        config=run.model.config_dict(),
        fields=run.fields,
    )
    _write_sampling_weights(run, done)
    run.saved_step = done


def _log_grid(run: _Run, logger: TrainLog, step: int) -> None:
    sampler = run.sampler(step)
    logger.image(sample_grid(run.model, sampler, run.cfg.grid_size, seed=run.cfg.seed, device=run.device))


def _after_step(run: _Run, done: int, logger: TrainLog | None, throughput: _Throughput, result: TrainResult) -> None:
    """The periodic work after step ``done``: a logged row, the checkpoints, a sample grid (each also at the end)."""
    cfg, is_last = run.cfg, done == run.cfg.steps
    throughput.tick()
    result.final_step = done
    if done % cfg.log_every == 0 or is_last:
        result.images_per_s = throughput.take()
        if logger is not None:
            lrs = {f"lr/{name}": opt.param_groups[0]["lr"] for name, opt in run.optimizers.items()}
            logger.log(done, {**run.values, **lrs, "images_per_s": result.images_per_s})
    if run.last is not None and run.ctx.is_main and (done % cfg.checkpoint_every == 0 or is_last):
        _write_checkpoints(run, done)
    if logger is not None and (done % cfg.image_every == 0 or is_last):
        _log_grid(run, logger, done)


def _refresh_finished(run: _Run, step: int, logger: TrainLog | None) -> None:
    """Nothing left to train: rewrite the sampling outputs from the checkpoint so the stage's outs exist."""
    if run.last is not None:
        _write_sampling_weights(run, step)
    if logger is not None:
        _log_grid(run, logger, step)


def _family(model: nn.Module) -> str:
    return getattr(model, "family", type(model).__name__)


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
    _check_images(images)
    local = split_batch(cfg.batch_size, ctx.world)
    run = _start(model, cfg, fields, run_dir, device, ctx)
    start = _resume(run)
    broadcast_module_(model, ctx)
    if cfg.compile:
        for child in model.children():
            child.compile()
    images = images.to(device)
    labels = labels.to(device) if labels is not None else None
    order = BatchOrder(len(images), cfg.batch_size, cfg.seed)
    logger = TrainLog(log_dir, resume_step=start) if log_dir is not None and ctx.is_main else None
    progress = _Progress(ctx, start, cfg.steps, every=max(cfg.log_every, math.ceil(cfg.steps / PROGRESS_LINES)))
    result = TrainResult(start_step=start, final_step=start, ema=run.ema is not None)
    throughput, t_start = _Throughput(cfg.batch_size), time.perf_counter()
    try:
        for step in range(start, cfg.steps):
            _train_step(run, step, *_local_batch(run, order, step, images, labels, local))
            _after_step(run, step + 1, logger, throughput, result)
            progress.update(step + 1, run.values)
        if start >= cfg.steps and ctx.is_main:
            _refresh_finished(run, start, logger)
    finally:
        progress.close()
        if logger is not None:
            logger.close()
    result.values, result.seconds = run.values, time.perf_counter() - t_start
    if run.last is not None:
        result.checkpoint, result.sampling_checkpoint = run.last, run.run_dir / EMA_FILE
    if logger is not None:
        result.samples_png = logger.directory / "samples.png"
    return result


def check_resumable(run_dir: Path, fields: dict[str, Any]) -> None:
    """Refuse early (before spawning workers or loading data) when ``last.pt`` came from other settings."""
    last = run_dir / LAST
    if last.is_file():
        check_compatible(read_checkpoint(last), fields, last)
