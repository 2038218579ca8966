"""The registry: one name per family, clear errors, and every family params.yaml names builds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genqc.config import DCGANParams, DDPMParams, Params, VAEParams
from genqc.models import registry
from genqc.models.registry import MODEL_REGISTRY, SHAPE_FIELDS, build_model, config_from_dict, register
from tests.conftest import real_params

PARAMS_CLASSES = {"dcgan": DCGANParams, "vae": VAEParams, "ddpm": DDPMParams}


def test_unknown_family_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model family 'gan' \(train.model\); valid: dcgan, ddpm, vae"):
        build_model("gan", {})


def test_registration_rejects_duplicates_and_wrong_types() -> None:
    entry = MODEL_REGISTRY["vae"]
    with pytest.raises(ValueError, match="'vae' is already registered"):
        register("vae", entry.model_cls, entry.config_cls)
    with pytest.raises(TypeError, match="not a GenerativeModel"):
        register("other", dict, entry.config_cls)  # type: ignore[arg-type]

    @dataclasses.dataclass  # not frozen
    class Mutable:
        image_size: int = 32

    with pytest.raises(TypeError, match="frozen dataclass"):
        register("other", entry.model_cls, Mutable)
    assert "other" not in MODEL_REGISTRY


def test_unknown_config_field_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown vae config field\(s\) widht; allowed: image_size, .*width"):
        config_from_dict("vae", {"widht": 8})


@pytest.mark.parametrize("family", sorted(PARAMS_CLASSES))
def test_params_section_and_model_config_have_the_same_fields(family: str) -> None:
    """params.yaml's train.<family> keys are exactly the model config's fields minus the shape fields."""
    params_fields = set(PARAMS_CLASSES[family].model_fields)
    config_fields = set(registry.family_fields(family)) - set(SHAPE_FIELDS)
    assert params_fields == config_fields
    # and the defaults agree, so a params.yaml without the section trains the documented model
    defaults = PARAMS_CLASSES[family]().model_dump()
    config = MODEL_REGISTRY[family].config_cls()
    assert {k: getattr(config, k) for k in defaults} == defaults


def test_every_model_named_in_params_yaml_builds() -> None:
    """The config smoke test: the real params.yaml's families, at its image size, build and sample."""
    params = Params.model_validate(real_params())
    families = {params.train.model, *getattr(params.train, "models", [])}
    assert families <= set(MODEL_REGISTRY)
    for family in sorted(families):
        fields = {
            **getattr(params.train, family).model_dump(),
            "image_size": params.ingest.image_size,
            "channels": params.ingest.channels,
            "num_classes": 10 if params.train.conditional else 0,
        }
        model = build_model(family, fields)
        n_params = sum(p.numel() for p in model.parameters())
        assert 1e5 < n_params < 2.5e6, f"{family} has {n_params} parameters; defaults must stay CPU-sized"
        kwargs = {"steps": 1} if family == "ddpm" else {}
        sample = model.sample(1, generator=torch.Generator().manual_seed(0), **kwargs)
        assert sample.shape == (1, params.ingest.channels, params.ingest.image_size, params.ingest.image_size)
