"""Device choice, mixed precision and determinism switches.

One code path for CPU and CUDA: on CUDA the loop runs under bf16 autocast with
channels_last tensors; on CPU the same calls are no-ops and the maths stays fp32.
"""

from __future__ import annotations

import contextlib
import os

import torch

from genqc.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str, *, key: str = "train.device", local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when present; asking for ``cuda`` on a machine without it is a config error."""
    if requested not in DEVICES:
        raise ConfigError(f"{key}={requested!r}: allowed: {', '.join(DEVICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{key}='cuda' but this machine has no CUDA device (torch {torch.__version__}); set {key}: auto or cpu"
        )
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def autocast(device: torch.device, *, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaling needed: bf16 has fp32's range); a no-op on CPU."""
    if device.type == "cuda" and bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores want NHWC); the default layout on CPU."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def configure_determinism(deterministic: bool) -> None:
    """Deterministic kernels (bit-exact resume) or the fastest cuDNN algorithms.

    ``warn_only`` keeps an op without a deterministic kernel from stopping a run;
    PyTorch then warns once naming the op. The cuBLAS workspace variable must be set
    before the first cuBLAS call, so it is set here, before the model is built.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
