"""Per-image random draws that depend only on (seed, image id, copy index).

Each augmented image gets a 64-bit key: the first 8 bytes of
SHA-256("genqc-augment|{seed}|{id}|{copy}"). Its random numbers are the outputs of
SplitMix64 seeded with that key, addressed by counter (output i is
``mix(key + (i + 1) * golden)``), in exact uint64 arithmetic. So an image's draws
never depend on which other images share its batch, on the batch size, on the
order of rows, or on the machine: there is no batch-level RNG stream to drift.

Counters 0..(4 * number of ops - 1) are the op slots (4 per op: the coin that
decides whether the op fires, then up to 3 strength draws); Gaussian noise reads
counters from ``NOISE_OFFSET`` on, one per pair of pixels, so the two never overlap.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from genqc.augment.ops import OP_NAMES, OpConfig

SLOTS_PER_OP = 4
NOISE_OFFSET = 1 << 32  # far above the op slots

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def image_keys(seed: int, ids: Sequence[str], copy: int) -> np.ndarray:
    """One uint64 key per image from SHA-256 of (seed, id, copy): stable across runs, machines and Python versions."""
    raw = b"".join(hashlib.sha256(f"genqc-augment|{seed}|{i}|{copy}".encode()).digest()[:8] for i in ids)
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def _splitmix64(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """SplitMix64 output ``counters[j]`` of the stream seeded by ``keys[i]``, shape (len(keys), len(counters)).

    Exact wrapping uint64 arithmetic, done in place (the noise path hashes
    millions of counters, and each temporary would cost a pass over memory).
    """
    with np.errstate(over="ignore"):
        z = np.add(keys.astype(np.uint64)[:, None], (counters.astype(np.uint64) + np.uint64(1)) * _GOLDEN)
        scratch = np.empty_like(z)
        for shift, multiplier in ((30, _MIX1), (27, _MIX2)):
            np.right_shift(z, np.uint64(shift), out=scratch)
            z ^= scratch
            z *= multiplier
        np.right_shift(z, np.uint64(31), out=scratch)
        z ^= scratch
    return z


def uniforms(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Float64 uniforms in [0, 1), shape (len(keys), len(counters)); 53 random bits each."""
    bits = _splitmix64(keys, counters)
    bits >>= np.uint64(11)
    out = bits.astype(np.float64)
    out *= 2.0**-53
    return out


def normals(keys: np.ndarray, n: int) -> np.ndarray:
    """Standard normals, shape (len(keys), n), by Box-Muller on counter pairs from NOISE_OFFSET.

    Each hash gives two 32-bit uniforms (u1, u2) and those give two normals,
    r*cos and r*sin of 2*pi*u2 (|z| < 6.7: 32 bits bound the tail), so pixel
    ``i`` always reads the same counter whatever ``n`` is. The sine is
    taken as +-sqrt(1 - cos^2): correctly rounded arithmetic instead of a second
    libm call, which is both cheaper and identical on every machine.
    """
    pairs = (n + 1) // 2
    bits = _splitmix64(keys, NOISE_OFFSET + np.arange(pairs, dtype=np.uint64))  # pair k reads counter k
    u1 = (bits >> np.uint64(32)).astype(np.float64)  # the high and low 32 bits: two uniforms per hash
    u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64)
    u1 *= -(2.0**-32)
    radius = np.log1p(u1, out=u1)  # log(1 - u1) with 1 - u1 in (0, 1]: the log never sees 0
    radius *= -2.0
    np.sqrt(radius, out=radius)
    u2 *= 2.0**-32
    negative = u2 > 0.5  # the sine is negative for angles in (pi, 2*pi)
    u2 *= 2.0 * math.pi
    cos = np.cos(u2, out=u2)
    sin = 1.0 - cos * cos
    np.sqrt(np.maximum(sin, 0.0, out=sin), out=sin)
    np.negative(sin, out=sin, where=negative)
    out = np.empty((len(keys), 2 * pairs))
    np.multiply(radius, cos, out=out[:, 0::2])
    np.multiply(radius, sin, out=out[:, 1::2])
    return out[:, :n]


@dataclass
class Draws:
    """Which op fired on each image and with what strength; ``records`` serialises them per image."""

    keys: np.ndarray  # (N,) uint64
    applied: dict[str, np.ndarray]  # op -> (N,) bool
    values: dict[str, dict[str, np.ndarray]]  # op -> field -> (N,) float64

    def __len__(self) -> int:
        return len(self.keys)

    def records(self) -> list[str]:
        """One compact JSON list per image of the ops applied, in order, e.g.
        ``[{"op":"rotate","degrees":-7.31},{"op":"brightness","factor":1.08}]``; ``[]`` when none fired."""
        rows: list[list[dict]] = [[] for _ in range(len(self))]
        for name in OP_NAMES:
            if name not in self.applied:
                continue
            fields = self.values[name]
            for i in np.flatnonzero(self.applied[name]):
                rows[i].append({"op": name, **{k: round(float(v[i]), 6) for k, v in fields.items()}})
        return [json.dumps(row, separators=(",", ":")) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many images each op fired on."""
        return {name: int(mask.sum()) for name, mask in self.applied.items()}


def _strengths(name: str, u: np.ndarray, m: float) -> dict[str, np.ndarray]:
    """Map three uniforms per image (u: (N, 3)) to the op's strength fields, as documented in OPS."""
    sym = 2.0 * u - 1.0  # U(-1, 1)
    if name == "crop":
        scale = 1.0 - m * u[:, 0]
        return {"scale": scale, "x": sym[:, 1] * (1.0 - scale) / 2.0, "y": sym[:, 2] * (1.0 - scale) / 2.0}
    if name == "rotate":
        return {"degrees": sym[:, 0] * m}
    if name == "translate":
        return {"dx": sym[:, 0] * m, "dy": sym[:, 1] * m}
    if name in ("brightness", "contrast"):
        return {"factor": 1.0 + sym[:, 0] * m}
    if name == "noise":
        return {"std": np.full(len(u), m)}
    if name == "cutout":
        return {"size": np.full(len(u), m), "x": u[:, 1], "y": u[:, 2]}
    return {}  # flips have no strength


def draw_ops(keys: np.ndarray, ops: Mapping[str, OpConfig]) -> Draws:
    """Decide, per image, which ops fire and how strongly. p=0 never fires; p=1 always does."""
    u = uniforms(keys, np.arange(SLOTS_PER_OP * len(OP_NAMES), dtype=np.uint64))  # (N, 4 * ops)
    applied, values = {}, {}
    for index, name in enumerate(OP_NAMES):
        if name not in ops:
            continue
        slot = u[:, SLOTS_PER_OP * index : SLOTS_PER_OP * (index + 1)]  # (N, 4): coin, then 3 strengths
        applied[name] = slot[:, 0] < ops[name].p
        values[name] = _strengths(name, slot[:, 1:], ops[name].magnitude)
    return Draws(keys=keys, applied=applied, values=values)
