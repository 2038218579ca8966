"""TrainConfig: the training loop's settings, declared once.

genqc/config.py derives params.yaml's ``train:`` keys (all but ``seed``, which is the
top-level ``seed``) from this class: names, types, ranges and defaults, so the loop and
the params file cannot disagree. The optimiser settings are not here: each family
declares its own lr, betas and weight decay (genqc/models/configs/), because a GAN
and a likelihood model want different ones. The module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Interval

Steps = Annotated[int, Ge(1)]
Seed = Annotated[int, Interval(ge=0, le=2**31 - 1)]  # 2**31 - 1: the largest seed every RNG here accepts


@dataclass(frozen=True)
class TrainConfig:
    """The general training knobs; field names are params.yaml's ``train.*`` keys (messages cite them)."""

    steps: Steps = 4000  # 2 idle CPU cores, batch 32: dcgan ~3.5 min, vae ~2 min, ddpm ~10 min on mnist5k
    batch_size: Annotated[int, Interval(ge=1, le=65536)] = 32  # the GLOBAL batch, split over processes; CPU-sized
    seed: Seed = 0  # params.yaml's top-level seed
    l1: Annotated[float, Ge(0)] = 0.0  # L1 penalty on weight matrices/kernels (not biases); the families need none
    grad_clip: Annotated[float, Ge(0)] = 0.0  # max global grad norm per group; 0: measure the norm, do not clip
    ema_decay: Annotated[float, Interval(ge=0, lt=1)] = 0.999  # ~1000-step horizon, a tenth of a long run; 0: off
    ema_warmup: bool = True  # decay min(ema_decay, (1+n)/(10+n)) after n updates: short runs do not sample the init
    # BatchNorm statistics of the EMA generator recomputed from this many of its own draws for ema.pt and the
    # grids (BigGAN's standing statistics): the live network's describe other weights. 0: copy the live ones
    ema_bn_draws: Annotated[int, Interval(ge=0, le=1_000_000)] = 2048
    checkpoint_every: Steps = (
        250  # steps between last.pt/ema.pt writes (and at the end); a crash loses at most this many
    )
    image_every: Steps = 250  # steps between sample grids (and at the end): 16 grids in a default run
    log_every: Steps = 10  # steps between logged rows (losses, grad norms, lr, images/s): 400 rows per run
    compile: bool = False  # torch.compile each sub-network; pays off on long CUDA runs only
    bf16: bool = True  # autocast to bfloat16 on CUDA only; CPU stays fp32
    deterministic: bool = True  # deterministic kernels: a resumed run ends with bit-identical weights
    grid_size: Annotated[int, Interval(ge=1, le=1024)] = 64  # EMA samples in each grid (8 x 8)
