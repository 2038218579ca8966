"""The ``FeatureExtractor`` contract every backbone implements.

An extractor is a frozen network plus the exact preprocessing that feeds it.
Both are part of a feature's identity: the same images through the same weights
but a different resize give different numbers, so ``identity`` names the
extractor, the SHA-256 of its weights and its preprocessing, and the feature
cache and metric names are keyed on it.

Inputs are uint8 pixels, as stored in image tables: a (N, H, W, C) array, a
list of (H, W, C) arrays of different sizes, rows decoded on demand (``LazyImages``,
e.g. an evaluation set over an image table: one batch of pixels at a time, never the
whole set), or a float (N, C, H, W) tensor in
[-1, 1] (a generator's output), which is first rounded to uint8 so that features
of a generator's output equal those of its saved PNGs. Each extractor then
resizes to its input size by one fixed, documented rule (see its module),
handles channels (grayscale replicated to RGB for ImageNet networks) and
normalises. Extraction is batched, in eval mode, without gradients, in float32.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from genqc.progress import Progress

if TYPE_CHECKING:
    from os import PathLike

# The layer each metric family reads by default: distances compare pooled features, scores read class logits.
DEFAULT_LAYERS = {"fd": "pool", "kid": "pool", "prdc": "pool", "memorization": "pool", "modes": "pool", "is": "logits"}


@runtime_checkable
class LazyImages(Protocol):
    """Images decoded on demand: extraction asks for one batch of rows at a time."""

    def __len__(self) -> int: ...

    def rows(self, index: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """uint8 (B, H, W, C) pixels (or a list of (H, W, C)) of the rows at ``index``, in that order."""
        ...


ImageInput = np.ndarray | Sequence[np.ndarray] | torch.Tensor | LazyImages


def file_sha256(path: str | PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (weights files are ~100 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over a state_dict's names, shapes, dtypes and values (for weights held only in memory)."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tuple(value.shape)}|{value.dtype}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes, any dtype
    return digest.hexdigest()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None picks CUDA when present; ``cuda`` without a GPU is a clear error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but no CUDA device is available; use 'cpu' or 'auto'")
    return resolved


def to_uint8_batches(images: ImageInput, batch_size: int) -> Iterator[list[np.ndarray] | np.ndarray]:
    """Split the input into batches of uint8 pixels: (B, H, W, C) arrays, or lists of (H, W, C) arrays.

    Lazy inputs are decoded one batch at a time, as the batches are consumed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(images, LazyImages):  # before the sequence case: a lazy set is never listed whole
        return (
            _checked_batch(images.rows(np.arange(i, min(i + batch_size, len(images)))), i)
            for i in range(0, len(images), batch_size)
        )
    if isinstance(images, torch.Tensor):
        from genqc.data.tensors import tensor_to_uint8

        if images.ndim != 4 or not images.is_floating_point():
            raise ValueError(
                f"a tensor input must be float (N, C, H, W) in [-1, 1], got {images.dtype} {tuple(images.shape)}"
            )
        return iter([tensor_to_uint8(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
    if isinstance(images, np.ndarray):
        _checked_batch(images, 0)
        return iter([images[i : i + batch_size] for i in range(0, len(images), batch_size)])
    items = _checked_batch(list(images), 0)
    return iter([items[i : i + batch_size] for i in range(0, len(items), batch_size)])


def _checked_batch(batch: np.ndarray | list[np.ndarray], offset: int) -> np.ndarray | list[np.ndarray]:
    """``batch`` itself once it is uint8 pixels with 1 or 3 channels; a ValueError naming the image otherwise."""
    if isinstance(batch, np.ndarray):
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] not in (1, 3):
            raise ValueError(f"images must be uint8 (N, H, W, C) with C in 1, 3; got {batch.dtype} {batch.shape}")
        return batch
    for i, item in enumerate(batch):
        if not isinstance(item, np.ndarray) or item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] not in (1, 3):
            found = f"{item.dtype} {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
            raise ValueError(f"image {offset + i} must be uint8 (H, W, C) with C in 1, 3; got {found}")
    return batch


class FeatureExtractor(nn.Module, metaclass=abc.ABCMeta):
    """A frozen network with fixed preprocessing, giving named feature layers.

    Subclasses set the class attributes, build their network in ``__init__``
    (weights loaded, ``weights_sha256`` set) and implement ``preprocess`` and
    ``forward_layers``. ``extract`` does the batching, devices and no-grad.
    """

    name: ClassVar[str]
    layer_dims: dict[str, int]  # layer -> width, e.g. {"pool": 1280, "logits": 1000}; per instance if it varies
    default_layers: ClassVar[dict[str, str]]  # metric family -> layer it reads ("fd" -> "pool")
    input_size: int  # side of the square the network sees
    preprocessing: str  # one line that fixes the resize and normalisation; part of the identity

    weights_sha256: str
    verified: bool  # the weights are the ones the name promises (SHA-256 checked); else results say "unverified"
    # images per network pass at most, whatever ``batch_size``: the bound on activation memory for networks that
    # upsample to 224-299 px (None: the whole batch). Passes are per image in eval mode, so features do not change.
    max_forward: ClassVar[int | None] = None

    @property
    def identity(self) -> str:
        """Name, weights and preprocessing: what makes two feature sets comparable."""
        return f"{self.name}|weights={self.weights_sha256}|pre={self.preprocessing}"

    @property
    def space(self) -> str:
        """The feature-space label that metric keys carry (``fd_<space>``)."""
        return self.name if self.verified else f"{self.name}_unverified"

    def layer_for(self, metric: str) -> str:
        """The layer a metric family reads; an unknown family lists the ones this extractor serves."""
        if metric not in self.default_layers:
            raise ValueError(
                f"extractor {self.name!r} has no default layer for metric {metric!r}; "
                f"known: {', '.join(sorted(self.default_layers))}"
            )
        return self.default_layers[metric]

    @abc.abstractmethod
    def preprocess(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) on the device -> the float (B, C', S, S) tensor the network expects."""

    @abc.abstractmethod
    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Preprocessed batch -> {layer: (B, D) tensor} for every layer in ``layer_dims``."""

    def _prepare(self, batch: np.ndarray | list[np.ndarray], device: torch.device) -> torch.Tensor:
        """uint8 pixels -> preprocessed float tensor; images of different sizes are preprocessed one by one."""
        if isinstance(batch, np.ndarray) or len({im.shape for im in batch}) == 1:
            stacked = np.ascontiguousarray(np.stack(batch) if isinstance(batch, list) else batch)
            tensor = torch.from_numpy(stacked).to(device).permute(0, 3, 1, 2)  # (B,H,W,C) -> (B,C,H,W)
            return self.preprocess(tensor)
        singles = [torch.from_numpy(np.ascontiguousarray(im)).to(device).permute(2, 0, 1)[None] for im in batch]
        return torch.cat([self.preprocess(t) for t in singles])  # each (1, C, H, W) -> (1, C', S, S)

    def extract(
        self,
        images: ImageInput,
        *,
        layers: Sequence[str] | None = None,
        batch_size: int = 64,
        device: str | torch.device | None = "cpu",
    ) -> dict[str, np.ndarray]:
        """Features of every image: {layer: float32 (N, D)}, in input order, whatever the batch size."""
        wanted = list(layers) if layers is not None else list(self.layer_dims)
        unknown = [layer for layer in wanted if layer not in self.layer_dims]
        if unknown:
            raise ValueError(
                f"extractor {self.name!r} has no layer {unknown[0]!r}; layers: {', '.join(self.layer_dims)}"
            )
        target = resolve_device(device)
        # channels_last: oneDNN's convolutions (depthwise ones above all) run ~1.6x faster in NHWC on
        # CPU, and it is the fast layout on CUDA too; the numbers are the same up to float round-off.
        self.to(target, memory_format=torch.channels_last).eval()
        # the result is allocated once and filled in place: no per-pass arrays left between the transient
        # activations (they fragmented the heap over 10,000 images) and no concatenated copy at the end
        out = {layer: np.empty((len(images), self.layer_dims[layer]), np.float32) for layer in wanted}
        done = 0
        with torch.inference_mode(), Progress(len(images), f"extract {self.name}", unit="img") as progress:
            for batch in to_uint8_batches(images, batch_size):
                step = self.max_forward or len(batch)
                for start in range(0, len(batch), step):
                    part = batch[start : start + step]
                    prepared = self._prepare(part, target).contiguous(memory_format=torch.channels_last)
                    outputs = self.forward_layers(prepared)
                    for layer in wanted:
                        out[layer][done : done + len(part)] = outputs[layer].float().cpu().numpy()
                    done += len(part)
                    del prepared, outputs  # free this pass's activations before the next one is made
                progress.update(len(batch))
        return out


def rgb_unit(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W), C in {1, 3} -> float32 (B, 3, H, W) in [0, 1]; grayscale is replicated to RGB."""
    if batch.shape[1] == 1:
        batch = batch.expand(-1, 3, -1, -1)  # (B, 1, H, W) -> (B, 3, H, W)
    return batch.float().div_(255.0)


def resize_square(x: torch.Tensor, size: int, *, antialias: bool) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of float (B, C, H, W) to (B, C, size, size); aspect is not kept."""
    if x.shape[-2:] == (size, size):
        return x
    return torch.nn.functional.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias
    )
