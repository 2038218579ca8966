"""VAEConfig: the settings of genqc/models/vae.py, params.yaml's ``train.vae``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge

from genqc.models.configs.common import Betas, LatentDim, LearningRate, WeightDecay, Width


@dataclass(frozen=True)
class VAEConfig:
    """Fields named as params.yaml's ``train.vae`` plus the shape fields the trainer fills from ingest."""

    image_size: int = 32  # ingest.image_size; a power of two so the encoder halves it down to 4x4
    channels: int = 1  # ingest.channels
    num_classes: int = 0  # 0: unconditional; K: label embedding into encoder and decoder
    latent_dim: LatentDim = 16  # digits need few factors; more leaves dimensions unused (posterior collapse)
    width: Width = 32  # channels of the outermost (S/2) conv layers; 32 keeps the VAE near 0.43M params
    likelihood: Literal["gaussian", "bernoulli"] = "bernoulli"  # bernoulli suits near-binary digit images
    beta: Annotated[float, Ge(0)] = 1.0  # weight of the KL term; 1 is the evidence lower bound
    # 1e-3: a likelihood model learns several times slower at the GAN's 2e-4 (blobs after 500 steps)
    lr: LearningRate = 1e-3
    betas: Betas = (0.9, 0.999)  # Adam's usual momentum: a likelihood model has no adversarial game to damp
    weight_decay: WeightDecay = 0.0  # the KL term already regularises the code
