"""DDPMConfig: the settings of genqc/models/ddpm.py, params.yaml's ``train.ddpm``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge, Interval

from genqc.models.configs.common import Betas, LearningRate, WeightDecay, Width


@dataclass(frozen=True)
class DDPMConfig:
    """Fields named as params.yaml's ``train.ddpm`` plus the shape fields the trainer fills from ingest."""

    image_size: int = 32  # ingest.image_size; a power of two so the U-Net's two 2x downsamples divide it
    channels: int = 1  # ingest.channels
    num_classes: int = 0  # 0: unconditional; K: a label embedding added to the time embedding
    width: Width = 16  # U-Net base channels: 0.21M params, 20 GFLOP/step at batch 64 (32: 0.83M, 81 GFLOP; GPU)
    timesteps: Annotated[int, Interval(ge=2, le=100000)] = 1000  # diffusion steps T of Ho et al.; DDIM uses fewer
    schedule: Literal["cosine", "linear"] = "cosine"  # cosine wastes fewer steps at small images (Nichol & Dhariwal)
    sampler: Literal["ddim", "ancestral"] = "ddim"  # ddim: 50 network calls instead of 1000
    sample_steps: Annotated[int, Interval(ge=1, le=100000)] = 50  # DDIM steps; ancestral walks all timesteps
    # DDIM stochasticity; 1: fresh noise each step (clean strokes from CPU nets, classifier FD 5 vs 49 at 0)
    eta: Annotated[float, Interval(ge=0, le=1)] = 1.0
    min_snr_gamma: Annotated[float, Ge(0)] = 5.0  # Min-SNR weighting min(SNR, g)/SNR (Hang et al. 2023); 0: plain
    lr: LearningRate = 1e-3  # as the VAE: a likelihood model learns several times slower at 2e-4
    betas: Betas = (0.9, 0.999)  # Adam's usual momentum (Ho et al.)
    weight_decay: WeightDecay = 0.0  # Ho et al. train without decay; EMA smooths the weights instead
