"""A torchrun worker for the DDP test: trains the toy model on its share of each global batch.

Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m tests.training.ddp_worker OUT``;
rank 0 logs every step's losses with DVCLive under OUT/log and writes OUT/run/last.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from genqc.training.distributed import context_from_env, destroy_process_group, init_process_group
from genqc.training.loop import TrainConfig, train
from tests.training.toy import ToyConfig, ToyModel, toy_images

#: noise 0: the toy loss is then a function of the batch alone, so 1 and N processes must agree
CONFIG = TrainConfig(steps=6, batch_size=16, seed=0, ema_decay=0.9, checkpoint_every=3, image_every=100, log_every=1)
FIELDS = {"train.model": "toy"}
TOY = ToyConfig(noise=0.0, lr=0.02)


def run(out: Path) -> None:
    ctx = context_from_env()
    device = torch.device("cpu")
    init_process_group(ctx, device)
    try:
        torch.manual_seed(ctx.rank)  # different starts on purpose: rank 0's weights must be broadcast
        model = ToyModel(TOY)
        train(
            model,
            toy_images(),
            None,
            CONFIG,
            fields=FIELDS,
            run_dir=out / "run",
            log_dir=out / "log" if ctx.is_main else None,
            device=device,
            ctx=ctx,
        )
    finally:
        destroy_process_group()


if __name__ == "__main__":
    run(Path(sys.argv[1]))
