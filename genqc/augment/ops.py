"""The augmentation ops, their allowed magnitudes, and validation of a user's op table.

Torch-free on purpose: the stage validates ``augment.ops`` before importing
anything heavy, and the registry below is the single place that says what each
op's magnitude means and which values are allowed. The registry order is also
the order ops are applied in (flips, one resample for crop/rotate/translate,
photometric ops, noise, cutout) and fixes each op's slot in the per-image
random stream, so switching one op on or off never changes another op's draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genqc.errors import ConfigError


@dataclass(frozen=True)
class OpSpec:
    """What an op does with its magnitude, and the magnitudes that make sense for it."""

    name: str
    low: float
    high: float
    unit: str  # shown in error messages: "allowed 0..180 (degrees)"
    draw: str  # how each image's strength is drawn from the magnitude (for docs and records)
    geometric: bool = False  # resampled together in one grid_sample call
    label_safe_digits: bool = True  # False: changes what a digit means (a flipped 2 is not a 2)


@dataclass(frozen=True)
class OpConfig:
    """One op's settings: applied to each image with probability ``p`` at strength ``magnitude``."""

    p: float = 0.0
    magnitude: float = 0.0


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "hflip",
            0.0,
            0.0,
            "unused: a flip has no strength; set p only",
            "mirror left-right",
            label_safe_digits=False,
        ),
        OpSpec(
            "vflip",
            0.0,
            0.0,
            "unused: a flip has no strength; set p only",
            "mirror top-bottom",
            label_safe_digits=False,
        ),
        OpSpec(
            "crop",
            0.0,
            0.9,
            "largest fraction of the side cropped away",
            "keep a square of side s ~ U(1-m, 1) at a uniform position, resize back (bilinear)",
            geometric=True,
        ),
        OpSpec(
            "rotate",
            0.0,
            180.0,
            "degrees",
            "angle ~ U(-m, m) degrees, counter-clockwise positive, about the centre (bilinear, zero fill)",
            geometric=True,
        ),
        OpSpec(
            "translate",
            0.0,
            0.5,
            "fraction of the side",
            "dx, dy ~ U(-m, m) times width, height (bilinear, zero fill)",
            geometric=True,
        ),
        OpSpec("brightness", 0.0, 1.0, "largest relative change", "multiply by f ~ U(1-m, 1+m)"),
        OpSpec("contrast", 0.0, 1.0, "largest relative change", "scale about the image's mean grey by f ~ U(1-m, 1+m)"),
        OpSpec(
            "noise", 0.0, 1.0, "standard deviation as a fraction of 255", "add N(0, (m*255)^2) per pixel and channel"
        ),
        OpSpec(
            "cutout",
            0.0,
            1.0,
            "side of the square as a fraction of the shorter side",
            "zero a square of side round(m*min(H, W)) px centred uniformly in the image (it may overlap the edge)",
        ),
    )
}

OP_NAMES: tuple[str, ...] = tuple(OPS)


def _field(op: Any, name: str) -> Any:
    """Read ``p``/``magnitude`` from a mapping, an OpConfig or the pydantic AugmentOp alike."""
    return op.get(name, 0.0) if isinstance(op, Mapping) else getattr(op, name, 0.0)


def validate_ops(ops: Mapping[str, Any], *, key: str = "augment.ops") -> dict[str, OpConfig]:
    """Check every op name, probability and magnitude; return plain OpConfigs in application order.

    All problems are reported at once, one line each, naming the key, the bad
    value and what is allowed (ConfigError: exit 2), e.g.
    ``augment.ops.rotate.magnitude=500: allowed 0..180 (degrees)``.
    """
    problems: list[str] = []
    for name, op in ops.items():
        spec = OPS.get(name)
        if spec is None:
            problems.append(f"{key}.{name}: unknown op; allowed: {', '.join(OP_NAMES)}")
            continue
        p, magnitude = _field(op, "p"), _field(op, "magnitude")
        if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            problems.append(f"{key}.{name}.p={p!r}: allowed 0..1 (probability per image)")
        if (
            not isinstance(magnitude, int | float)
            or isinstance(magnitude, bool)
            or not (spec.low <= magnitude <= spec.high)
        ):
            shown = f"{magnitude:g}" if isinstance(magnitude, int | float) else repr(magnitude)
            problems.append(f"{key}.{name}.magnitude={shown}: allowed {spec.low:g}..{spec.high:g} ({spec.unit})")
    if problems:
        raise ConfigError("\n".join(problems))
    return {
        name: OpConfig(float(_field(ops[name], "p")), float(_field(ops[name], "magnitude")))
        for name in OP_NAMES
        if name in ops
    }


def label_unsafe_ops(ops: Mapping[str, OpConfig]) -> list[str]:
    """Ops switched on (p > 0) that can change a digit's meaning; the stage warns about them."""
    return [name for name, op in ops.items() if op.p > 0 and not OPS[name].label_safe_digits]
