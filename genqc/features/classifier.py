"""``classifier``: the pipeline's own domain classifier as an evaluation network.

A network trained on the very domain being generated (digits, clothes) sees what
an ImageNet network misses, and it is cheap. Its features are the classifier's
global-average-pooled penultimate activations (``pool``, 4 x width) and its class
logits (``logits``; Inception-style score, class balance of samples).

Preprocessing (fixed): uint8 -> [-1, 1] (the models' convention,
``genqc.data.tensors``); channels to the classifier's count (grayscale
replicated to RGB, RGB to grayscale with PIL's ITU-R 601-2 luma, rounded, as
ingest does); images of another size get a bilinear antialiased resize to the
classifier's ``image_size`` (aspect not kept). Pipeline images already have that
size, so they pass untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch

from genqc.features.base import DEFAULT_LAYERS, FeatureExtractor, file_sha256, resize_square, state_dict_sha256
from genqc.features.registry import register_extractor
from genqc.training.checkpoint import load_classifier

if TYPE_CHECKING:
    from genqc.models.classifier import Classifier


def luma_uint8(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> uint8 (B, 1, H, W) with PIL's integer ITU-R 601-2 luma (bit-exact with convert("L"))."""
    r, g, b = (batch[:, i : i + 1].to(torch.int32) for i in range(3))  # each (B, 1, H, W)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)


@register_extractor("classifier")
class ClassifierFeatures(FeatureExtractor):
    """Features and logits of a trained ``genqc.models.classifier.Classifier``."""

    default_layers: ClassVar[dict[str, str]] = {**DEFAULT_LAYERS, "modes": "logits"}  # modes: class logits

    def __init__(self, checkpoint: str | Path | None = None, *, model: Classifier | None = None) -> None:
        super().__init__()
        if (checkpoint is None) == (model is None):
            raise ValueError("the classifier extractor needs exactly one of checkpoint= (a path) or model=")
        if checkpoint is not None:
            path = Path(checkpoint)
            if not path.is_file():
                raise FileNotFoundError(
                    f"classifier checkpoint {path} not found; run `genqc classifier` first or pass --classifier CKPT"
                )
            model = load_classifier(path)
            self.weights_sha256 = file_sha256(path)
        else:
            self.weights_sha256 = state_dict_sha256(model.state_dict())
        self.net = model
        config = model.config
        self.channels = config.channels
        self.input_size = config.image_size
        self.layer_dims = {"pool": model.feature_dim, "logits": config.num_classes}
        self.preprocessing = f"c{self.channels}|bilinear-antialias-{self.input_size}-if-other-size|x/127.5-1"
        self.verified = True  # the pipeline's own network: its identity is the weights hash itself
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.shape[1] != self.channels:
            batch = batch.expand(-1, 3, -1, -1) if self.channels == 3 else luma_uint8(batch)  # C: 1 <-> 3
        x = batch.float().div_(127.5).sub_(1.0)
        return resize_square(x, self.input_size, antialias=True)

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool = self.net.features(x)  # (B, 4 * width)
        return {"pool": pool, "logits": self.net.head(pool)}
