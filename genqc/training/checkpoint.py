"""Checkpoints that resume bit-exactly and rebuild their model with no other file.

``last.pt`` holds everything a resumed run needs: model, optimisers, EMA, every
RNG state, the step, the model family with its config, and a fingerprint of the
settings that make the weights what they are. ``ema.pt`` is the small file the
sample stage reads: the family, the config and the EMA weights of the sampling
module. Both are written atomically and read with ``torch.load(weights_only=True)``,
so everything is stored as tensors and plain Python types (no pickled objects).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genqc.errors import ConfigError, DataError
from genqc.io import atomic_path

FORMAT = 1
LAST = "last.pt"
EMA_FILE = "ema.pt"


# --------------------------------------------------------------------------- fingerprint
def params_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of a flat ``{key: value}`` mapping, independent of key order."""
    text = json.dumps({k: fields[k] for k in sorted(fields)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every key whose value differs (missing keys shown as <absent>)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "<absent>"), new.get(key, "<absent>")
        if before != after:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines


def check_compatible(state: dict[str, Any], fields: dict[str, Any], path: Path) -> None:
    """Refuse to resume from a checkpoint made with other settings, saying which and how to start fresh."""
    if state.get("params_hash") == params_hash(fields):
        return
    changes = changed_fields(state.get("hash_fields", {}), fields)
    raise ConfigError(
        f"{path} was trained with other settings, so resuming would mix two runs. Changed (checkpoint -> now): "
        + "; ".join(changes or ["(unrecorded keys)"])
        + f". To start fresh delete {path} (and {path.with_name(EMA_FILE)}) or set train.resume: false; "
        "to continue, put the old values back in params.yaml (train.steps may change freely)."
    )


# --------------------------------------------------------------------------- RNG states
def capture_rng() -> dict[str, Any]:
    """Every global RNG state as tensors and plain types (so weights_only loading accepts it)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- writing
def _save(payload: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """State dict on CPU, contiguous (channels_last weights saved in the default layout)."""
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_training_state(
    path: Path,
    *,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    ema_state: dict[str, Any] | None,
    step: int,
    family: str,
    config: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    """Write ``last.pt`` atomically: a crash mid-write leaves the previous checkpoint intact."""
    payload = {
        "format": FORMAT,
        "kind": "training",
        "family": family,
        "config": config,
        "step": step,
        "params_hash": params_hash(fields),
        "hash_fields": fields,
        "model": _cpu_state(model),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "ema": ema_state,
        "scaler": None,  # bf16 autocast needs no loss scaling; kept so the layout names every piece
        "rng": capture_rng(),
    }
    _save(payload, path)


def save_sampling_weights(
    path: Path, *, module: nn.Module, ema: bool, step: int, family: str, config: dict[str, Any], fields: dict[str, Any]
) -> None:
    """Write ``ema.pt``: the sampling module's weights (EMA ones when ``ema``) and what rebuilds the model."""
    payload = {
        "format": FORMAT,
        "kind": "sampling",
        "family": family,
        "config": config,
        "step": step,
        "params_hash": params_hash(fields),
        "hash_fields": fields,
        "sampling": _cpu_state(module),
        "ema": ema,
    }
    _save(payload, path)


# --------------------------------------------------------------------------- reading
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; an unreadable file is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; run `genqc train` first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, not a pickle traceback
        raise DataError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); delete it and retrain"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "family" not in state:
        raise DataError(f"{path} is not a genqc checkpoint (format {FORMAT}); delete it and retrain")
    return state


@dataclass
class LoadedModel:
    """A rebuilt model; ``sampler`` is the module to pass as ``model.sample(..., module=sampler)``."""

    model: nn.Module
    sampler: nn.Module
    family: str
    config: dict[str, Any]
    step: int
    ema: bool
    params_hash: str


def load_checkpoint(path: str | Path, *, use_ema: bool = True, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model from ``last.pt`` or ``ema.pt`` alone (family + config inside the file).

    From ``last.pt`` the whole model is restored and ``sampler`` is the EMA copy
    when one exists and ``use_ema``; from ``ema.pt`` only the sampling module's
    weights exist, so the rest of the model (a GAN's discriminator) stays at its
    initialisation, which sampling never uses.
    """
    import copy

    from genqc.models.registry import build_model

    state = read_checkpoint(path)
    model = build_model(state["family"], dict(state["config"]))
    ema_used = False
    if state["kind"] == "training":
        model.load_state_dict(state["model"])
        sampler = model.ema_module()
        if use_ema and state.get("ema") is not None:
            sampler = copy.deepcopy(model.ema_module())
            sampler.load_state_dict(state["ema"]["module"])
            ema_used = True
    else:
        if use_ema is False and state.get("ema"):
            raise ConfigError(f"{path} holds only EMA weights; use_ema=False needs {Path(path).with_name(LAST)}")
        model.ema_module().load_state_dict(state["sampling"])
        sampler = model.ema_module()
        ema_used = bool(state.get("ema"))
    model.to(device).eval()
    sampler.to(device).eval()
    return LoadedModel(model, sampler, state["family"], dict(state["config"]), int(state["step"]), ema_used,
                       state["params_hash"])  # fmt: skip


# --------------------------------------------------------------------------- classifier
def save_classifier(path: Path, model: nn.Module, *, metrics: dict[str, float]) -> None:
    """Write the domain classifier: its config (to rebuild it), weights and test metrics, atomically."""
    from dataclasses import asdict

    payload = {"format": FORMAT, "kind": "classifier", "family": "classifier", "config": asdict(model.config),
               "model": _cpu_state(model), "metrics": dict(metrics)}  # fmt: skip
    _save(payload, Path(path))


def load_classifier(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the domain classifier from its file alone (weights_only loading), in eval mode."""
    from genqc.models.classifier import Classifier, ClassifierConfig

    state = read_checkpoint(path)
    if state.get("kind") != "classifier":
        raise DataError(f"{path} is a {state.get('kind')} checkpoint, not the classifier; run `genqc classifier`")
    model = Classifier(ClassifierConfig(**state["config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()
