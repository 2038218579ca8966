"""Row-level checks of an image table: pure NumPy/pandas, no Great Expectations.

Each check yields one boolean per row ("this row fails"); the quarantine keeps
every reason that applies. The same per-row quantities are handed to Great
Expectations (genqc.quality.suite) as columns, so the suite reports exactly what
the quarantine acted on.

Pixel statistics are recomputed from the decoded PNG bytes rather than read
from the table's ``mean``/``std`` columns: the gate trusts pixels, not metadata
that an edited or hand-made table might get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from genqc.data.table import CHANNELS, HEIGHT, ID, IMAGE, LABEL, PHASH, SHA256, WIDTH, decode_png
from genqc.quality import duplicates

# Check names: the keys of params.yaml's validate.severity, the reasons in quarantine.parquet.
SCHEMA, NULLS, LABELS = "schema", "nulls", "labels"
DECODE, SIZE, CHANNELS_CHECK = "decode", "size", "channels"
BLANK, SATURATED, NEAR_CONSTANT = "blank", "saturated", "near_constant"
EXACT_DUPLICATE, NEAR_DUPLICATE, DUPLICATE_ID = "exact_duplicate", "near_duplicate", "duplicate_id"
LEAKAGE, NEAR_LEAKAGE = "leakage", "near_leakage"
# label_kl, not class_kl: evaluate's metrics.json owns `class_kl` (the generated-class KL), one name per number.
CLASS_BALANCE, LABEL_KL = "class_balance", "label_kl"
ATTRIBUTE_BALANCE, ATTRIBUTE_KL = "attribute_balance", "attribute_kl"

# Row checks in the order reasons are listed; leakage ones apply to the test split only.
ROW_CHECKS = (
    NULLS,
    DUPLICATE_ID,
    LABELS,
    DECODE,
    SIZE,
    CHANNELS_CHECK,
    BLANK,
    SATURATED,
    NEAR_CONSTANT,
    EXACT_DUPLICATE,
    NEAR_DUPLICATE,
    LEAKAGE,
    NEAR_LEAKAGE,
)

# Columns every row needs a value in; the rest of the table's columns are informative.
REQUIRED_COLUMNS = (ID, LABEL, IMAGE, HEIGHT, WIDTH, CHANNELS, SHA256, PHASH)

# Per-row quantities measured here and validated by the suite (prefixed so they never clash with table columns).
PIXEL_MEAN, PIXEL_STD = "qc_pixel_mean", "qc_pixel_std"
DECODED_HEIGHT, DECODED_WIDTH, DECODED_CHANNELS = "qc_height", "qc_width", "qc_channels"
DECODED, USABLE = "qc_decoded", "qc_usable"  # decoded at all; decoded with the expected size and channels
PIXELS = "qc_pixels"  # the decoded (S, S, C) uint8 image of a usable row (a view of Measured.images), else None


def flag_column(check: str) -> str:
    """Name of the boolean column that marks the rows failing ``check`` (True: fails)."""
    return f"qc_fails_{check}"


@dataclass(frozen=True)
class RowRules:
    """The thresholds of the row checks (from params.yaml's ``validate`` and ``ingest`` sections)."""

    image_size: int
    channels: int
    expected_labels: tuple[int, ...]
    blank_max_mean: float
    saturated_min_mean: float
    min_std: float
    hamming: int
    max_pixel_diff: float
    attributes: tuple[str, ...] = ()


@dataclass
class Measured:
    """What decoding a split yields: per-row quantities plus the images of the rows with the expected shape."""

    stats: pd.DataFrame  # PIXEL_MEAN, PIXEL_STD, DECODED_*, DECODED and USABLE, aligned with the table's rows
    images: np.ndarray  # (N, S, S, C) uint8; zeros where the row has no image of the expected shape
    usable: np.ndarray  # (N,) bool: decoded with the expected size and channels

    def pixel_column(self) -> pd.Series:
        """PIXELS: each usable row's image as a view (no copy), so Great Expectations checks decoded pixels."""
        views = [self.images[i] if ok else None for i, ok in enumerate(self.usable)]
        return pd.Series(views, index=self.stats.index, dtype=object, name=PIXELS)


def with_required_columns(frame: pd.DataFrame, attributes: tuple[str, ...] = ()) -> pd.DataFrame:
    """The frame with any missing required column added as all-null, so row checks can still run, and
    non-integer pHashes coerced to nullable integers.

    The schema expectation reports the missing column; here its rows simply fail
    the null check, which keeps every row accounted for.
    """
    missing = [c for c in (*REQUIRED_COLUMNS, *attributes) if c not in frame.columns]
    frame = frame.assign(**{c: pd.Series([None] * len(frame), index=frame.index, dtype=object) for c in missing})
    if not pd.api.types.is_integer_dtype(frame[PHASH]):
        # A hand-made table with text or float pHashes: unusable values become nulls (and fail the null check).
        frame = frame.assign(**{PHASH: pd.to_numeric(frame[PHASH], errors="coerce").round().astype("Int64")})
    return frame


def measure(frame: pd.DataFrame, *, image_size: int, channels: int) -> Measured:
    """Decode every row's PNG bytes; record decode success, decoded shape and pixel mean/std (0-255 scale)."""
    n = len(frame)
    mean, std = np.full(n, np.nan), np.full(n, np.nan)
    height, width, chans = (np.full(n, np.nan) for _ in range(3))
    decoded = np.zeros(n, dtype=bool)
    images = np.zeros((n, image_size, image_size, channels), dtype=np.uint8)
    for row, data in enumerate(frame[IMAGE].tolist()):
        if not isinstance(data, bytes | bytearray | memoryview):
            continue  # null bytes: the null check reports it
        try:
            pixels = decode_png(bytes(data))
        except Exception:  # any failure to decode is the finding itself (PIL raises many types)
            continue
        decoded[row] = True
        height[row], width[row], chans[row] = pixels.shape
        if pixels.shape == images.shape[1:]:
            images[row] = pixels
        else:  # rare: statistics of an odd-shaped image one by one; the rest are batched below
            mean[row], std[row] = pixels.mean(), pixels.std()
    usable = decoded & (height == image_size) & (width == image_size) & (chans == channels)
    if usable.any():
        flat = images[usable].reshape(int(usable.sum()), -1).astype(np.float32)  # (M, S, S, C) -> (M, S*S*C)
        mean[usable] = flat.mean(axis=1, dtype=np.float64)
        std[usable] = flat.std(axis=1, dtype=np.float64)
    stats = pd.DataFrame(
        {
            PIXEL_MEAN: mean,
            PIXEL_STD: std,
            DECODED_HEIGHT: height,
            DECODED_WIDTH: width,
            DECODED_CHANNELS: chans,
            DECODED: decoded,
            USABLE: usable,
        },
        index=frame.index,
    )
    return Measured(stats=stats, images=images, usable=usable)


def row_flags(frame: pd.DataFrame, measured: Measured, rules: RowRules) -> pd.DataFrame:
    """One boolean column per within-split row check (True: the row fails it).

    ``frame`` must hold the required columns (see ``with_required_columns``). A
    check that cannot apply to a row (the size of an undecodable image) is False
    there; the row fails the check that explains it instead.
    """
    stats = measured.stats
    null_columns = [*REQUIRED_COLUMNS, *rules.attributes]
    nulls = frame[null_columns].isna().any(axis=1).to_numpy()
    labels = frame[LABEL]
    bad_label = labels.notna().to_numpy() & ~labels.isin(list(rules.expected_labels)).to_numpy()
    decoded = stats[DECODED].to_numpy()
    has_image = frame[IMAGE].notna().to_numpy()
    wrong_size = decoded & ((stats[DECODED_HEIGHT] != rules.image_size) | (stats[DECODED_WIDTH] != rules.image_size))
    wrong_channels = decoded & (stats[DECODED_CHANNELS] != rules.channels).to_numpy()
    mean, std = stats[PIXEL_MEAN].to_numpy(), stats[PIXEL_STD].to_numpy()
    hashes = frame[SHA256].to_numpy()
    # The stored hash vouches for pixels only when those pixels decode; a corrupt row is reported as such alone.
    has_hash = frame[SHA256].notna().to_numpy() & decoded
    exact = np.zeros(len(frame), dtype=bool)
    exact[has_hash] = duplicates.exact_duplicates(hashes[has_hash])
    phash_ok = frame[PHASH].notna().to_numpy()
    eligible = measured.usable & ~exact & phash_ok
    phashes = frame[PHASH].where(phash_ok, 0).astype(np.int64).to_numpy()
    near = duplicates.near_duplicates(
        phashes, measured.images, max_distance=rules.hamming, max_pixel_diff=rules.max_pixel_diff, eligible=eligible
    )
    ids = frame[ID]
    flags = {
        NULLS: nulls,
        DUPLICATE_ID: (ids.notna() & ids.duplicated(keep="first")).to_numpy(),
        LABELS: bad_label,
        DECODE: has_image & ~decoded,
        SIZE: wrong_size.to_numpy(),
        CHANNELS_CHECK: wrong_channels,
        BLANK: decoded & (mean <= rules.blank_max_mean),
        SATURATED: decoded & (mean >= rules.saturated_min_mean),
        NEAR_CONSTANT: decoded & (std < rules.min_std),
        EXACT_DUPLICATE: exact,
        NEAR_DUPLICATE: near,
        LEAKAGE: np.zeros(len(frame), dtype=bool),
        NEAR_LEAKAGE: np.zeros(len(frame), dtype=bool),
    }
    return pd.DataFrame({flag_column(k): np.asarray(v, dtype=bool) for k, v in flags.items()}, index=frame.index)


def leakage_flags(
    train: pd.DataFrame, train_measured: Measured, test: pd.DataFrame, test_measured: Measured, rules: RowRules
) -> tuple[np.ndarray, np.ndarray]:
    """(leaked, near_leaked) for the test rows: the same, or a near-identical, image occurs in train.

    The test-side copy is the one flagged: the train split keeps its images, and
    the test split loses the ones a model could have memorised, so evaluation
    stays honest.
    """
    train_hash_ok = train[SHA256].notna().to_numpy() & train_measured.stats[DECODED].to_numpy()
    test_hash_ok = test[SHA256].notna().to_numpy() & test_measured.stats[DECODED].to_numpy()
    leaked = np.zeros(len(test), dtype=bool)
    leaked[test_hash_ok] = duplicates.leaked(
        train[SHA256].to_numpy()[train_hash_ok], test[SHA256].to_numpy()[test_hash_ok]
    )
    train_ok = train_measured.usable & train[PHASH].notna().to_numpy()
    test_ok = test_measured.usable & test[PHASH].notna().to_numpy() & ~leaked
    near = duplicates.near_leaked(
        train[PHASH].where(train_ok, 0).astype(np.int64).to_numpy(),
        train_measured.images,
        train_ok,
        test[PHASH].where(test_ok, 0).astype(np.int64).to_numpy(),
        test_measured.images,
        test_ok,
        max_distance=rules.hamming,
        max_pixel_diff=rules.max_pixel_diff,
    )
    return leaked, near
