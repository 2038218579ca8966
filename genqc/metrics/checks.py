"""Input checks and warning types shared by the metric functions.

Every metric takes feature matrices as NumPy arrays or torch tensors. Checking them
in one place keeps the error wording identical across metrics, and the wording is
part of the interface: users read it when a run fails.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class MetricWarning(UserWarning):
    """Base of every warning the metric functions issue (filter on it to silence them all)."""


class SingularCovarianceWarning(MetricWarning):
    """Fewer samples than dimensions: the covariance is singular and the Fréchet distance unstable."""


class SubsetSizeWarning(MetricWarning):
    """KID subsets were shrunk to fit the smaller set."""


class NumericalWarning(MetricWarning):
    """A clamp of negative or imaginary round-off was larger than round-off should be."""


def is_torch(x: Any) -> bool:
    """True for a torch tensor, without importing torch when the caller never did."""
    return type(x).__module__.startswith("torch")


def is_cuda(x: Any) -> bool:
    return is_torch(x) and x.is_cuda


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array or (CPU or CUDA) tensor; no copy when already NumPy."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_features(x: Any, name: str, *, min_rows: int = 1, noun: str = "features") -> np.ndarray | Any:
    """Validate a (N, D) feature matrix; return it unchanged (array or tensor).

    Raises ValueError naming ``name`` for a wrong rank, too few rows, or NaN/Inf values,
    because any of those silently poisons every statistic computed afterwards.
    """
    shape = tuple(x.shape)
    what = f"{name} {noun}".strip()
    if len(shape) != 2:
        raise ValueError(f"{what} must be a 2-D (samples, dims) matrix; got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{what} are empty (0 samples); a metric needs at least {min_rows}")
    if shape[0] < min_rows:
        raise ValueError(f"{what} have {shape[0]} samples; this metric needs at least {min_rows}")
    if shape[1] == 0:
        raise ValueError(f"{what} have 0 dimensions")
    if is_torch(x):
        import torch

        finite = bool(torch.isfinite(x).all())
    else:
        if not np.issubdtype(np.asarray(x).dtype, np.number):
            raise ValueError(f"{what} must be numeric; got dtype {np.asarray(x).dtype}")
        finite = bool(np.isfinite(x).all())
    if not finite:
        raise ValueError(f"{what} contain NaN or Inf values; check the feature extractor's input")
    return x


def check_pair(real: Any, fake: Any, *, min_rows: int = 1) -> None:
    """Validate two feature matrices and that they live in the same feature space."""
    check_features(real, "real", min_rows=min_rows)
    check_features(fake, "fake", min_rows=min_rows)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features have different dimensions ({real.shape[1]} vs {fake.shape[1]}); "
            "they must come from the same extractor and layer"
        )


def warn(message: str, category: type[MetricWarning]) -> None:
    warnings.warn(message, category, stacklevel=3)
