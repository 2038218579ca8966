"""A trained model's reconstructions as the plain function ``evaluate(reconstruct=...)`` takes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genqc.data.tensors import tensor_to_uint8, uint8_to_tensor
from genqc.training.checkpoint import LoadedModel


def model_reconstructor(loaded: LoadedModel, device: Any) -> Any:
    """uint8 images (and labels, used when the model is conditional) -> the model's uint8 reconstructions."""
    conditional = bool(loaded.config.get("num_classes"))

    def reconstruct(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        x = uint8_to_tensor(images).to(device)
        y = torch.as_tensor(labels).to(device) if conditional else None
        with torch.no_grad():
            return tensor_to_uint8(loaded.model.reconstruct(x, y, module=loaded.sampler))

    return reconstruct
