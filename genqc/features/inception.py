"""``inception``: the standard FID Inception-v3 (TensorFlow 2015-12-05 graph, as ported by pytorch-fid).

FID is only comparable across papers when it is computed with this network and
these weights, so the weights are checked by SHA-256 against the official
``pt_inception-2015-12-05-6726825d.pth`` (95,628,359 bytes). The architecture
below is written here (torchvision cannot be used beside torch 2.13) with the
exact module names of pytorch-fid's state_dict, including the FID variants of
the blocks: average pools that ignore padding (``count_include_pad=False``) in
the A, C and first E blocks and a max pool in the last E block.

Weights come from a path (``evaluate.inception_weights`` / ``--inception-weights``)
or, when none is given, from torch.hub's cache or the standard URL. Any other
weights file of the same layout is accepted but its results are labelled
``inception_unverified`` (``fd_inception_unverified``, never ``fid``).

Preprocessing (fixed, as pytorch-fid): uint8 -> [0, 1]; grayscale replicated to
RGB; bilinear resize to 299x299 with ``align_corners=False`` and no antialiasing;
scaled to [-1, 1]. Layers: ``pool`` (2048-d final average pool; FD, KID, PRDC)
and ``logits`` (the 1008-way classifier of the same graph; Inception Score).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genqc.errors import ConfigError
from genqc.features.base import DEFAULT_LAYERS, FeatureExtractor, file_sha256, resize_square, rgb_unit
from genqc.features.registry import register_extractor

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# SHA-256 of the official file, as published with its download by several FID tool kits; the
# filename's 6726825d is its first 8 hex digits (torch.hub's naming convention).
FID_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_KEY = "evaluate.inception_weights (or --inception-weights)"


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3, TensorFlow's) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_no_pad(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's 3x3 average pool: padded zeros do not count in the average."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_no_pad(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            bd = conv(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool_no_pad(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """The E block; ``max_pool`` selects the FID graph's last block, which max-pools its pool branch."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_no_pad(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 graph; module names match pytorch-fid's state_dict keys exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 299, 299) in [-1, 1] -> (pool (B, 2048), logits (B, 1008))."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (B, 64, 147, 147)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 64, 73, 73)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # (B, 192, 71, 71)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (B, 192, 35, 35)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)  # ends at (B, 2048, 8, 8)
        pool = x.mean(dim=(2, 3))  # (B, 2048, 8, 8) -> (B, 2048)
        return pool, self.fc(pool)


def _layout_problems(state: dict[str, torch.Tensor], model: nn.Module) -> list[str]:
    """Differences between a weights file and the network; BatchNorm batch counters are not weights."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    found = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k}" for k in found if k not in expected]
    problems += [
        f"{k} has shape {found[k]}, expected {expected[k]}" for k in expected if k in found and found[k] != expected[k]
    ]
    return problems


def _default_weights() -> Path:
    """torch.hub's cached copy (where pytorch-fid keeps it), else a download of the standard URL."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_FILE
    if target.is_file():
        return target
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(60)  # urllib waits forever by default; a black-holed network must not hang a stage
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(FID_WEIGHTS_URL, str(target), hash_prefix=FID_WEIGHTS_SHA256[:8], progress=False)
    except Exception as exc:  # no network, proxy, disk: the user's remedy is the same
        raise ConfigError(
            f"the FID Inception weights could not be downloaded from {FID_WEIGHTS_URL} ({type(exc).__name__}: "
            f"{exc}); download {FID_WEIGHTS_FILE} on a machine with internet access and pass its path with "
            f"{WEIGHTS_KEY}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def load_inception_weights(path: str | Path, *, require_official: bool = False) -> tuple[dict, str, bool]:
    """Read a weights file of the pytorch-fid layout: (state_dict, sha256, is_official).

    A file whose name carries a torch.hub hash prefix (``...-6726825d.pth``) must
    match it: a mismatch means a corrupt or truncated download. ``require_official``
    makes any file other than the official one an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{WEIGHTS_KEY}={str(path)!r}: file not found; give the path of {FID_WEIGHTS_FILE}")
    sha = file_sha256(path)
    official = sha == FID_WEIGHTS_SHA256
    prefix = re.search(r"-([0-9a-f]{8})\.pth?$", path.name)
    if prefix and not sha.startswith(prefix.group(1)):
        raise ConfigError(
            f"{WEIGHTS_KEY}={str(path)!r}: SHA-256 {sha[:16]}... does not match the hash prefix "
            f"{prefix.group(1)} in its name; the file is corrupt or truncated: download it again"
        )
    if require_official and not official:
        raise ConfigError(
            f"{WEIGHTS_KEY}={str(path)!r}: SHA-256 {sha} is not the official FID weights' "
            f"{FID_WEIGHTS_SHA256}; FID needs the official {FID_WEIGHTS_FILE}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, non-tensor objects refused by weights_only
        raise ConfigError(f"{WEIGHTS_KEY}={str(path)!r}: not a readable PyTorch state_dict ({exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(
            f"{WEIGHTS_KEY}={str(path)!r}: expected a state_dict (name -> tensor), got {type(state).__name__}"
        )
    return state, sha, official


@register_extractor("inception")
class InceptionFID(FeatureExtractor):
    """FID Inception-v3 features (2048-d pool) and its 1008 logits, with verified weights."""

    layer_dims: ClassVar[dict[str, int]] = {"pool": 2048, "logits": 1008}
    default_layers: ClassVar[dict[str, str]] = DEFAULT_LAYERS
    input_size = 299
    max_forward = 16  # 299-px activations: bounded as EfficientNet's are (genqc.features.effnet)
    preprocessing = "rgb|bilinear-299-align_corners_false-no-antialias|2x-1"

    def __init__(self, weights: str | Path | None = None, *, require_official: bool = False) -> None:
        super().__init__()
        path = Path(weights) if weights else _default_weights()
        state, self.weights_sha256, self.verified = load_inception_weights(path, require_official=require_official)
        self.net = FIDInceptionV3()
        problems = _layout_problems(state, self.net)
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise ConfigError(
                f"{WEIGHTS_KEY}={str(path)!r} does not have the pytorch-fid Inception layout of "
                f"{FID_WEIGHTS_FILE}: {shown}"
            )
        self.net.load_state_dict(state, strict=False)  # strict key check done above, counters aside
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        return resize_square(rgb_unit(batch), self.input_size, antialias=False) * 2.0 - 1.0

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool, logits = self.net(x)
        return {"pool": pool, "logits": logits}
