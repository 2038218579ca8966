"""Multi-process data parallel training through torchrun.

A stage that wants N processes re-launches itself under ``torchrun`` (PyTorch's
own elastic launcher: rendezvous, per-process env, failure propagation). Each
worker joins the process group (nccl on CUDA, gloo on CPU), takes its share of
every global batch and averages gradients with one all-reduce per optimisation
group, which is what DistributedDataParallel does without its forward() hook:
the GenerativeModel contract trains through ``loss(group, ...)``, not forward,
and a GAN steps two groups per batch, so the reduction is done explicitly here.
Only rank 0 writes checkpoints, logs and images.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from genqc.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world`` processes; ``local_rank`` picks its GPU."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def in_torchrun() -> bool:
    """True inside a worker started by torchrun (it sets these variables for every worker)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ


def context_from_env() -> DistContext:
    """The rank, world size and local rank torchrun gave this process (single process without it)."""
    if not in_torchrun():
        return DistContext()
    return DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """Join the process group: nccl for CUDA tensors, gloo for CPU ones."""
    if not ctx.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world)


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def split_batch(global_batch: int, world: int) -> int:
    """Per-process batch: the global batch split evenly (so N processes see the same data as one)."""
    if global_batch % world:
        raise ConfigError(
            f"train.batch_size={global_batch} is the global batch and must split evenly across "
            f"train.nproc={world} processes; use a multiple of {world}"
        )
    return global_batch // world


def all_reduce_mean_(tensors: Sequence[torch.Tensor], ctx: DistContext) -> None:
    """Average ``tensors`` in place across processes with one flat all-reduce."""
    if not ctx.enabled or not tensors:
        return
    flat = _flatten_dense_tensors(list(tensors))
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(ctx.world)
    for tensor, reduced in zip(tensors, _unflatten_dense_tensors(flat, list(tensors)), strict=True):
        tensor.copy_(reduced)


def all_reduce_grads_(params: Sequence[torch.nn.Parameter], ctx: DistContext) -> None:
    """Average the gradients of ``params`` across processes.

    A parameter without a gradient is left without one (AdamW then skips it, as in
    a single process); every process runs the same code, so the set matches.
    """
    all_reduce_mean_([p.grad for p in params if p.grad is not None], ctx)


def broadcast_module_(module: torch.nn.Module, ctx: DistContext) -> None:
    """Give every process rank 0's parameters and buffers (the same start whatever the local RNG did)."""
    if not ctx.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def launch_torchrun(module_args: Sequence[str], nproc: int) -> int:
    """Run ``python -m torch.distributed.run --standalone --nproc_per_node N -m <module_args>``; return its exit code.

    ``--standalone`` rendezvous on a free local port, so nothing outside the machine
    is contacted. A failing worker makes torchrun stop the others and exit non-zero.
    """
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        *module_args,
    ]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.run(command, env=env, check=False).returncode
