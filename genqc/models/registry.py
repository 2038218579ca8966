"""``MODEL_REGISTRY`` maps a family name (``train.model``) to its model class and its config class.

The trainer, the sampler and checkpoint loading build models only through
``build_model``, so adding a family is one module, its config in genqc/models/configs/
(which params.yaml's ``train.<family>`` section is derived from) and one ``register`` line here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from genqc.models.base import GenerativeModel
from genqc.models.configs import FAMILY_CONFIGS, OPTIMIZER_FIELDS, SHAPE_FIELDS
from genqc.models.dcgan import DCGAN
from genqc.models.ddpm import DDPM
from genqc.models.vae import VAE

__all__ = ["MODEL_REGISTRY", "SHAPE_FIELDS", "build_model", "config_from_dict", "family_fields", "register"]


@dataclass(frozen=True)
class ModelEntry:
    model_cls: type[GenerativeModel]
    config_cls: type


MODEL_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, model_cls: type[GenerativeModel], config_cls: type) -> None:
    """Add a family; names are unique and the classes must be a GenerativeModel and a frozen dataclass."""
    if name in MODEL_REGISTRY:
        raise ValueError(f"model family {name!r} is already registered")
    if not (isinstance(model_cls, type) and issubclass(model_cls, GenerativeModel)):
        raise TypeError(f"model family {name!r}: {model_cls!r} is not a GenerativeModel subclass")
    if not (dataclasses.is_dataclass(config_cls) and config_cls.__dataclass_params__.frozen):
        raise TypeError(f"model family {name!r}: config {config_cls!r} must be a frozen dataclass")
    names = {field.name for field in dataclasses.fields(config_cls)}
    for kind, required in (("shape", SHAPE_FIELDS), ("optimiser", OPTIMIZER_FIELDS)):
        missing = [f for f in required if f not in names]
        if missing:
            raise TypeError(f"model family {name!r}: config lacks the {kind} field(s) {', '.join(missing)}")
    MODEL_REGISTRY[name] = ModelEntry(model_cls, config_cls)


def _entry(family: str) -> ModelEntry:
    if family not in MODEL_REGISTRY:
        raise ValueError(f"unknown model family {family!r} (train.model); valid: {', '.join(sorted(MODEL_REGISTRY))}")
    return MODEL_REGISTRY[family]


def family_fields(family: str) -> tuple[str, ...]:
    """The config field names of a family, shape fields included."""
    return tuple(f.name for f in dataclasses.fields(_entry(family).config_cls))


def config_from_dict(family: str, fields: dict[str, Any]) -> Any:
    """The family's frozen config from a plain dict (params section + shape fields, or a checkpoint's)."""
    config_cls = _entry(family).config_cls
    allowed = family_fields(family)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {family} config field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}  # YAML lists -> hashable
    return config_cls(**values)


def build_model(family: str, config_fields: dict[str, Any]) -> GenerativeModel:
    """A fresh model of ``family`` (``train.model``) from its config fields; ValueError lists valid names."""
    entry = _entry(family)
    return entry.model_cls(config_from_dict(family, config_fields))


register("dcgan", DCGAN, FAMILY_CONFIGS["dcgan"])
register("vae", VAE, FAMILY_CONFIGS["vae"])
register("ddpm", DDPM, FAMILY_CONFIGS["ddpm"])
