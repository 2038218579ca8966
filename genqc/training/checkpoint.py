"""Checkpoints that resume bit-exactly and rebuild their model with no other file.

``last.pt`` holds everything a resumed run needs: model, optimisers, EMA, the
step, the model family with its config, and a fingerprint of the settings that
make the weights what they are. No RNG state: the loop reseeds torch from (seed,
step, rank) every step and draws batches as a pure function of (seed, step). ``ema.pt`` is the small file the
sample stage reads: the family, the config and the EMA weights of the sampling
module. Both are written atomically and read with ``torch.load(weights_only=True)``,
so everything is stored as tensors and plain Python types (no pickled objects).
The same state gives the same bytes (the archive is serialised in memory, so the
temporary file's random name is not recorded), and DVC skips the stages downstream
of a retrain that changed nothing. A refused file is one line naming it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genqc.errors import ConfigError, DataError
from genqc.io import atomic_path
from genqc.models.classifier import Classifier, ClassifierConfig
from genqc.models.registry import MODEL_REGISTRY, build_model

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


# --------------------------------------------------------------------------- writing
def checkpoint_bytes(payload: dict[str, Any]) -> bytes:
    """The serialised checkpoint; a function of ``payload`` alone.

    ``torch.save`` to a path names the archive's inner folder after the file, and
    the atomic write goes through a randomly named temporary file, so identical
    weights gave different bytes. In memory the folder is always ``archive``.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _save(payload: dict[str, Any], path: Path) -> None:
    data = checkpoint_bytes(payload)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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
#: what torch.load raises for a file that is not a weights-only torch archive (truncated, foreign, pickled objects)
_UNREADABLE = (
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    AttributeError,
    KeyError,
    TypeError,
    IndexError,
)


MAX_REASON = 200  # characters of an exception's first line quoted in a refusal: enough to name the problem


def _first_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception: torch's messages run to many lines and advise weights_only=False."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:MAX_REASON]}" if lines else type(exc).__name__


def _why_unreadable(exc: BaseException) -> str:
    if isinstance(exc, pickle.UnpicklingError):
        return "it holds pickled objects that weights-only loading refuses (only tensors and plain types)"
    return _first_line(exc)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; an unreadable file is a one-line DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; run `genqc train` first")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols on stderr: the error says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise DataError(f"checkpoint {path} cannot be read: {_why_unreadable(exc)}; delete it and retrain") from None
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
    state = read_checkpoint(path)
    family, kind = state["family"], state.get("kind")
    if family not in MODEL_REGISTRY or kind not in ("training", "sampling"):
        raise DataError(
            f"{path} holds a {kind} checkpoint of {family!r}, not a generative model's; expected "
            f"{', '.join(sorted(MODEL_REGISTRY))} weights from `genqc train`"
        )
    if kind == "sampling" and use_ema is False and state.get("ema"):
        raise ConfigError(f"{path} holds only EMA weights; use_ema=False needs {Path(path).with_name(LAST)}")
    try:
        model, sampler, ema_used = _rebuild(state, use_ema)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:  # a config or weights this code cannot take
        raise DataError(f"{path} does not rebuild a {family} model ({_first_line(exc)}); delete it, retrain") from None
    model.to(device).eval()
    sampler.to(device).eval()
    return LoadedModel(
        model, sampler, state["family"], dict(state["config"]), int(state["step"]), ema_used, state["params_hash"]
    )


def _rebuild(state: dict[str, Any], use_ema: bool) -> tuple[nn.Module, nn.Module, bool]:
    """(model, sampling module, whether the sampler holds EMA weights) from a checkpoint's state."""
    model = build_model(state["family"], dict(state["config"]))
    if state["kind"] == "training":
        model.load_state_dict(state["model"])
        if use_ema and state.get("ema") is not None:
            sampler = copy.deepcopy(model.ema_module())
            sampler.load_state_dict(state["ema"]["module"])
            return model, sampler, True
        return model, model.ema_module(), False
    model.ema_module().load_state_dict(state["sampling"])
    return model, model.ema_module(), bool(state.get("ema"))


# --------------------------------------------------------------------------- classifier
def save_classifier(path: Path, model: nn.Module, *, metrics: dict[str, float]) -> None:
    """Write the domain classifier: its config (to rebuild it), weights and test metrics, atomically."""
    payload = {
        "format": FORMAT,
        "kind": "classifier",
        "family": "classifier",
        "config": asdict(model.config),
        "model": _cpu_state(model),
        "metrics": dict(metrics),
    }
    _save(payload, Path(path))


def load_classifier(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the domain classifier from its file alone (weights_only loading), in eval mode."""
    state = read_checkpoint(path)
    if state.get("kind") != "classifier":
        raise DataError(f"{path} is a {state.get('kind')} checkpoint, not the classifier; run `genqc classifier`")
    try:
        model = Classifier(ClassifierConfig(**state["config"]))
        model.load_state_dict(state["model"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise DataError(f"{path} does not rebuild the classifier ({_first_line(exc)}); rerun the stage") from None
    return model.to(device).eval()
