"""Conversions between the table's uint8 NHWC arrays and models' float NCHW tensors.

One convention for the whole library: models see float32 (B, C, H, W) in [-1, 1];
tables hold uint8 (N, H, W, C). Going back to uint8 rounds (never truncates) and
clamps, as the measurement conventions require.
"""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1]."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (N,H,W,C) -> (N,C,H,W)
    return tensor.float().div_(127.5).sub_(1.0)


def tensor_to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounding and clamping."""
    scaled = ((tensor.detach().float().cpu() + 1.0) * 127.5).round_().clamp_(0, 255)
    return scaled.to(dtype=torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # (N,C,H,W)->(N,H,W,C)
