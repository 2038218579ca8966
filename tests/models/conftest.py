"""Tiny model configs shared by the model tests: 16x16 images, narrow nets, a few seconds per test."""

from __future__ import annotations

import pytest
import torch

from genqc.models.registry import build_model

FAMILIES = ("dcgan", "vae", "ddpm")
SIZE = 16

# the narrowest settings each family accepts, so each test runs in well under a second
TINY: dict[str, dict] = {
    "dcgan": {"width": 8, "latent_dim": 8},
    "vae": {"width": 8, "latent_dim": 4},
    "ddpm": {"width": 8, "timesteps": 50, "sample_steps": 5},
}


def tiny_model(family: str, *, num_classes: int = 0, channels: int = 1, **overrides):
    """A freshly initialised, seeded tiny model of ``family``."""
    torch.manual_seed(0)
    fields = {"image_size": SIZE, "channels": channels, "num_classes": num_classes, **TINY[family], **overrides}
    return build_model(family, fields)


def fake_batch(n: int = 8, channels: int = 1, num_classes: int = 0, seed: int = 0):
    """Images in [-1, 1] (n, C, 16, 16) and labels (n,) or None."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, channels, SIZE, SIZE, generator=g) * 2 - 1
    labels = torch.randint(0, num_classes, (n,), generator=g) if num_classes else None
    return images, labels


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return request.param
