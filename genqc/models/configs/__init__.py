"""The frozen config of every model family and of the domain classifier: the one place their settings are declared.

Each field is declared once, in the family's module here, with its type, its allowed
range (``annotated_types`` markers) and a default whose comment says why.
genqc/config.py derives the ``train.<family>`` and ``classifier`` sections of
params.yaml from these classes, so a field added here is a validated params key at
once and the two cannot drift. The package imports no torch (loading params must
stay fast for stages that never train), and each family's config has its own file
so that a DVC stage depends only on the configs it uses. The model modules
(dcgan.py, vae.py, ddpm.py, classifier.py) re-export their config.
"""

from __future__ import annotations

import dataclasses

from genqc.models.configs.classifier import ClassifierBudget, ClassifierConfig, ClassifierTraining
from genqc.models.configs.common import OPTIMIZER_FIELDS, SHAPE_FIELDS
from genqc.models.configs.dcgan import DIFFAUGMENT_OPS, DCGANConfig, diffaugment_ops
from genqc.models.configs.ddpm import DDPMConfig
from genqc.models.configs.vae import VAEConfig

__all__ = [
    "DIFFAUGMENT_OPS",
    "FAMILY_CONFIGS",
    "OPTIMIZER_FIELDS",
    "SHAPE_FIELDS",
    "ClassifierBudget",
    "ClassifierConfig",
    "ClassifierTraining",
    "DCGANConfig",
    "DDPMConfig",
    "VAEConfig",
    "diffaugment_ops",
    "latent_families",
]

#: every generative family's config by its ``train.model`` name; the registry pairs each with its model class
FAMILY_CONFIGS: dict[str, type] = {"dcgan": DCGANConfig, "vae": VAEConfig, "ddpm": DDPMConfig}


def latent_families() -> tuple[str, ...]:
    """The families that decode images from a latent code (their config has ``latent_dim``).

    Only their samples can be drawn at a latent temperature other than 1 (``sample.latent_scale``).
    """
    return tuple(
        name for name, config in FAMILY_CONFIGS.items() if "latent_dim" in {f.name for f in dataclasses.fields(config)}
    )
