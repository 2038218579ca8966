"""Data augmentation: label-preserving batched ops for the augment stage, and DiffAugment for GANs.

- ``validate_ops`` checks an op table against each op's allowed magnitudes (OPS).
- ``augment_images`` augments a uint8 (N, H, W, C) batch; each image's random
  draws derive from (seed, image id, copy) only, so results do not depend on the
  batch size, the row order or the machine.
- ``augment_table`` turns an image table into originals + augmented copies, with
  each row's source id and the ops applied; ``augment_chunks`` does it chunk by
  chunk for a stage that streams.
- ``diff_augment`` is the differentiable augmentation applied to real and
  generated batches during GAN training.

Importing this package does not import torch; the functions that need it do.
"""

from genqc.augment.batch import AugmentResult, apply_draws, augment_images
from genqc.augment.diff import DIFF_POLICIES, diff_augment, parse_policy
from genqc.augment.draws import Draws, draw_ops, image_keys
from genqc.augment.ops import OP_NAMES, OPS, OpConfig, OpSpec, label_unsafe_ops, validate_ops
from genqc.augment.table import (
    AUGMENT_COPY,
    AUGMENT_OPS,
    SOURCE_ID,
    augment_chunks,
    augment_table,
    augmented_id,
    check_augmentable,
    empty_counts,
)

__all__ = [
    "AUGMENT_COPY",
    "AUGMENT_OPS",
    "DIFF_POLICIES",
    "OPS",
    "OP_NAMES",
    "SOURCE_ID",
    "AugmentResult",
    "Draws",
    "OpConfig",
    "OpSpec",
    "apply_draws",
    "augment_chunks",
    "augment_images",
    "augment_table",
    "augmented_id",
    "check_augmentable",
    "diff_augment",
    "draw_ops",
    "empty_counts",
    "image_keys",
    "label_unsafe_ops",
    "parse_policy",
    "validate_ops",
]
