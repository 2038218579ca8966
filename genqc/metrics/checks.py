"""Input checks and warning types shared by the metric functions.

Every metric takes feature matrices as NumPy arrays or torch tensors. Checking them
in one place keeps the error wording identical across metrics, and the wording is
part of the interface: users read it when a run fails.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# torch is imported inside the functions that use it (deferred on purpose): `import genqc.metrics` must not
# load torch, so NumPy features are measured without it (tests/features/test_registry.py checks this).


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


def check_features(
    x: Any, name: str, *, min_rows: int = 1, noun: str = "features", metric: str = ""
) -> np.ndarray | Any:
    """Validate a (N, D) feature matrix; return it unchanged (array or tensor).

    Raises ValueError naming ``name`` for a wrong rank, too few rows, or NaN/Inf values,
    because any of those silently poisons every statistic computed afterwards.
    """
    shape = tuple(x.shape)
    what = f"{metric + ': ' if metric else ''}{name} {noun}".strip()
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

        if x.is_complex():
            raise ValueError(
                f"{what} are complex ({x.dtype}); metrics need real-valued features "
                "(an imaginary part would be silently dropped)"
            )
        finite = bool(torch.isfinite(x).all())
    else:
        check_real_dtype(np.asarray(x).dtype, what)
        finite = bool(np.isfinite(x).all())
    if not finite:
        raise ValueError(f"{what} contain NaN or Inf values; check the feature extractor's input")
    return x


def check_real_dtype(dtype: np.dtype, what: str) -> None:
    """Refuse non-numeric and complex dtypes: casting complex to float drops the imaginary part silently."""
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(
            f"{what} are complex ({dtype}); metrics need real-valued features "
            "(an imaginary part would be silently dropped)"
        )
    if not np.issubdtype(dtype, np.number) or dtype == np.bool_:
        raise ValueError(f"{what} must be numeric; got dtype {dtype}")


def check_result(metric: str, values: dict[str, float]) -> dict[str, float]:
    """Return ``values`` when every one is a finite float; else ValueError naming the metric and the output.

    A NaN or Inf that reaches metrics.json becomes ``null`` and a gate reading it sees
    nothing; an error names what to fix instead.
    """
    for output, value in values.items():
        if isinstance(value, complex) or np.iscomplexobj(value):
            raise ValueError(
                f"metric {metric!r}: output {output!r} is complex ({value}); the inputs were not real-valued features"
            )
        if not np.isfinite(float(value)):
            raise ValueError(
                f"metric {metric!r}: output {output!r} is not finite ({value}); the features' "
                "magnitudes overflow its float64 arithmetic (rescale them) or the inputs are "
                "degenerate"
            )
    return values


def power_of_two_scale(*arrays: Any, target: float = 1.0) -> float:
    """A power of two ``s`` such that ``max |x| * s`` is about ``target`` (1.0 when every value is 0).

    Multiplying by a power of two is exact in floating point, so scale-free metrics
    (nearest-neighbour decisions, distance ratios) can bring features of any magnitude
    (|x| ~ 1e200 overflows a squared distance; 1e-200 underflows it) into range
    without changing a single decision.
    """
    top = 0.0
    for x in arrays:
        top = max(top, float(x.abs().max()) if is_torch(x) else float(np.max(np.abs(x))))
    if top == 0.0 or not np.isfinite(top):
        return 1.0
    return float(2.0 ** (np.round(np.log2(target)) - np.floor(np.log2(top))))


def check_pair(real: Any, fake: Any, *, min_rows: int = 1, metric: str = "") -> None:
    """Validate two feature matrices and that they live in the same feature space (``metric`` prefixes errors)."""
    check_features(real, "real", min_rows=min_rows, metric=metric)
    check_features(fake, "fake", min_rows=min_rows, metric=metric)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features have different dimensions ({real.shape[1]} vs {fake.shape[1]}); "
            "they must come from the same extractor and layer"
        )


def warn(message: str, category: type[MetricWarning]) -> None:
    warnings.warn(message, category, stacklevel=3)
