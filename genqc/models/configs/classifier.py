"""The domain classifier's architecture and training recipe, params.yaml's ``classifier:`` section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Interval

from genqc.models.configs.common import Betas, LearningRate, WeightDecay, Width


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the evaluation CNN; saved with its weights so a checkpoint rebuilds it alone."""

    num_classes: int = 10  # labels present in the training split
    channels: int = 1  # ingest.channels
    image_size: int = 32  # ingest.image_size; the net pools globally, so any size >= 8 works
    width: Width = 32  # channels of the first block; features are 4 x width = 128-dimensional


@dataclass(frozen=True)
class ClassifierTraining:
    """How the evaluation CNN is trained: AdamW with a one-cycle schedule peaking at ``lr``."""

    epochs: Annotated[int, Interval(ge=1, le=1000)] = 8  # ~98.9% test accuracy on mnist5k in a minute on 2 cores
    batch_size: Annotated[int, Interval(ge=1, le=65536)] = 128  # 32 steps per epoch on 4000 images; BN likes >= 64
    lr: LearningRate = 2e-3  # one-cycle peak; robust for this small BatchNorm net
    betas: Betas = (0.9, 0.999)  # AdamW's defaults: a supervised loss needs no damped momentum
    weight_decay: WeightDecay = 1e-4  # light decay; dropout does most of the regularising


@dataclass(frozen=True)
class ClassifierBudget:
    """When training stops before ``epochs`` run out (params.yaml's ``classifier:`` budget keys).

    ``max_steps`` and ``target_accuracy`` keep runs reproducible (the stop depends
    on the data and seed only); ``max_seconds`` depends on the machine, so a run
    that stops by time is reported as such.
    """

    # 1500 steps: ~3.4 epochs of Fashion-MNIST's 56k train images (~0.9 accuracy, ~3 min on 2 cores); mnist5k's
    # 8 epochs are 256 steps, so it never binds there. The one-cycle schedule is fitted to the budget.
    max_steps: Annotated[int, Interval(ge=1)] | None = 1500
    max_seconds: Annotated[float, Interval(gt=0)] | None = None  # wall-clock cap; off: a time stop is machine-bound
    target_accuracy: Annotated[float, Interval(gt=0, le=1)] | None = None  # stop at this held-out TRAIN accuracy
    eval_every: Annotated[int, Interval(ge=1)] = 100  # steps between held-out accuracy checks
