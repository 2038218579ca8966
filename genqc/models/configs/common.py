"""What the configs share: the names the trainer fills in and the value types of width, latent size and optimiser.

Each type carries its allowed range as an ``annotated_types`` marker; genqc/config.py turns
the markers into params.yaml's range checks.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Interval

#: the fields the trainer fills from ingest params (and the labels) rather than from train.<family>
SHAPE_FIELDS = ("image_size", "channels", "num_classes")
#: the optimiser settings every family declares for itself (AdamW per parameter group)
OPTIMIZER_FIELDS = ("lr", "betas", "weight_decay")

LearningRate = Annotated[float, Interval(gt=0, le=1)]
Beta = Annotated[float, Interval(ge=0, lt=1)]
Betas = tuple[Beta, Beta]
WeightDecay = Annotated[float, Ge(0)]
Width = Annotated[int, Interval(ge=4, le=4096)]
LatentDim = Annotated[int, Interval(ge=1, le=4096)]
