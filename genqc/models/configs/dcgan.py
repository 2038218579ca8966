"""DCGANConfig: the settings of genqc/models/dcgan.py, params.yaml's ``train.dcgan``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Ge

from genqc.models.configs.common import Betas, LatentDim, LearningRate, WeightDecay, Width

#: the ops genqc.augment.diff_augment applies
DIFFAUGMENT_OPS = ("translation", "cutout", "color")


def diffaugment_ops(policy: str) -> list[str]:
    """The ops of a comma-separated DiffAugment policy; ValueError names the key and the allowed ops."""
    ops = [op.strip() for op in policy.split(",") if op.strip()]
    unknown = [op for op in ops if op not in DIFFAUGMENT_OPS]
    if unknown:
        raise ValueError(
            f"train.dcgan.diffaugment={policy!r}: unknown op(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(DIFFAUGMENT_OPS)} (comma-separated) or '' to disable"
        )
    return ops


@dataclass(frozen=True)
class DCGANConfig:
    """Fields named as params.yaml's ``train.dcgan`` plus the shape fields the trainer fills from ingest."""

    image_size: int = 32  # ingest.image_size; a power of two so 4x4 doubles up to it exactly
    channels: int = 1  # ingest.channels
    num_classes: int = 0  # 0: unconditional; K: conditional BN in G, projection in D
    latent_dim: LatentDim = 64  # enough for 10 digit classes and their styles; larger slows nothing much
    width: Width = 32  # channels of the outermost conv layers; 32 keeps G+D near 0.46M params (CPU-sized)
    loss: Literal["non_saturating", "hinge"] = "non_saturating"  # the DCGAN paper's loss; hinge as in SNGAN
    spectral_norm: bool = False  # off: BatchNorm D (the paper) gave varied digits where SN collapsed on mnist5k
    r1_gamma: Annotated[float, Ge(0)] = 0.0  # R1 penalty weight on real data; 0 disables it (SN usually suffices)
    diffaugment: str = ""  # comma list of translation,cutout,color; "" disables (helps with small datasets)
    # mode seeking (Mao et al., 2019): G's loss gains weight / (mean |G(z1, c) - G(z2, c)| / mean |z1 - z2|) over
    # pairs with one label, so two codes of one class cannot give the same image; 0 disables it
    # 1: recall 0.76 -> 0.80 for the conditional default on mnist5k, precision within 0.05 (docs/levers.md)
    mode_seeking: Annotated[float, Ge(0)] = 1.0
    minibatch_std: bool = True  # D sees the batch's feature spread (Karras et al., 2018): counters mode collapse
    lr: LearningRate = 1e-3  # AdamW lr of G and D: the paper's 2e-4 learns too slowly for a CPU budget
    lr_d: LearningRate | None = None  # the discriminator's own lr (e.g. TTUR's 4e-4); None: the same as lr
    betas: Betas = (0.5, 0.999)  # beta1=0.5: the DCGAN paper's momentum; 0.9 oscillates the adversarial game
    weight_decay: WeightDecay = 0.0  # AdamW's decoupled decay; the small nets do not overfit mnist5k in 2000 steps

    def __post_init__(self) -> None:
        diffaugment_ops(self.diffaugment)
