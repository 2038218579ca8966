"""What every generative family promises the trainer and the sampler (the GenerativeModel contract)."""

from __future__ import annotations

import copy

import pytest
import torch

from genqc.errors import ConfigError
from genqc.models.base import GenerativeModel
from genqc.models.registry import build_model
from tests.models.conftest import SIZE, fake_batch, tiny_model

GROUPS = {"dcgan": ["d", "g"], "vae": ["vae"], "ddpm": ["unet"]}


def test_groups_are_disjoint_and_cover_every_parameter(family: str) -> None:
    model = tiny_model(family)
    groups = model.groups()
    assert list(groups) == GROUPS[family]  # the order the trainer steps them in
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}


def test_loss_is_a_finite_scalar_for_every_group(family: str) -> None:
    model = tiny_model(family)
    images, _ = fake_batch()
    for group in model.groups():
        out = model.loss(group, images, None, step=0)
        assert out["loss"].shape == () and out["loss"].dtype == torch.float32
        assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
        assert all(not v.requires_grad for k, v in out.items() if k != "loss")  # logged values are detached
    with pytest.raises(ValueError, match="group"):
        model.loss("nope", images, None, step=0)


def test_sample_shape_range_and_mode_restored(family: str) -> None:
    model = tiny_model(family, channels=3)
    model.train()
    images = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 3, SIZE, SIZE) and images.dtype == torch.float32
    assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1
    assert model.training and model.ema_module().training  # sampling does not leave the net in eval mode


def test_same_seed_same_samples_and_other_seed_differs(family: str) -> None:
    model = tiny_model(family)
    a = model.sample(4, generator=torch.Generator().manual_seed(7))
    b = model.sample(4, generator=torch.Generator().manual_seed(7))
    c = model.sample(4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_sample_uses_the_module_passed_in(family: str) -> None:
    """The trainer samples an EMA copy: sample(module=copy) must use the copy's weights, not the live ones."""
    model = tiny_model(family)
    ema = copy.deepcopy(model.ema_module())
    g = torch.Generator
    same = model.sample(3, generator=g().manual_seed(0), module=ema)
    assert torch.equal(same, model.sample(3, generator=g().manual_seed(0)))
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.5 * torch.randn_like(p))
    assert not torch.allclose(model.sample(3, generator=g().manual_seed(0), module=ema), same)


def test_a_few_steps_lower_every_loss(family: str) -> None:
    """Adam on one fixed batch: each group's loss, measured with the same noise draws, goes down."""
    model = tiny_model(family)
    images, _ = fake_batch(8)
    for group, params in model.groups().items():
        optimiser = torch.optim.Adam(params, lr=2e-3, betas=(0.5, 0.999))

        def measured(group: str = group) -> float:
            torch.manual_seed(123)  # same z / timesteps / noise each time
            return model.loss(group, images, None, step=0)["loss"].item()

        before = measured()
        for step in range(20):
            torch.manual_seed(step)
            optimiser.zero_grad(set_to_none=True)
            model.loss(group, images, None, step=step)["loss"].backward()
            optimiser.step()
        assert measured() < before, f"{family}/{group} loss did not drop"


def test_conditional_sampling_honours_labels(family: str) -> None:
    model = tiny_model(family, num_classes=3)
    images, labels = fake_batch(num_classes=3)
    for group, params in model.groups().items():  # a few steps move the label weights off their neutral init
        optimiser = torch.optim.SGD(params, lr=0.5)
        for step in range(3):
            optimiser.zero_grad()
            model.loss(group, images, labels, step=step)["loss"].backward()
            optimiser.step()
    requested = torch.tensor([0, 1, 2, 2])
    out = model.sample(4, labels=requested, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 1, SIZE, SIZE)
    # the label path is live: the same noise with other labels gives other images
    other = model.sample(4, labels=torch.tensor([1, 2, 0, 0]), generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(out, other)
    # no labels: a balanced, reproducible cycle 0, 1, 2, 0, ...
    cycled = model.sample(4, generator=torch.Generator().manual_seed(0))
    expected = model.sample(4, labels=torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(cycled, expected)


def test_label_errors(family: str) -> None:
    conditional = tiny_model(family, num_classes=3)
    images, _ = fake_batch()
    group = next(iter(conditional.groups()))
    with pytest.raises(ValueError, match="conditional"):
        conditional.loss(group, images, None, step=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        conditional.loss(group, images, torch.full((8,), 3), step=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        conditional.sample(2, labels=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"unconditional.*train\.conditional"):
        tiny_model(family).sample(2, labels=torch.tensor([0, 1]))


@pytest.mark.parametrize("size", [4, 24, 48, 512])
def test_unsupported_image_size_names_the_key(family: str, size: int) -> None:
    with pytest.raises(ConfigError, match=rf"ingest.image_size={size} is not supported by the {family} model"):
        tiny_model(family, image_size=size)


@pytest.mark.parametrize("size", [8, 32, 64])
def test_supported_sizes_sample_at_that_size(family: str, size: int) -> None:
    model = tiny_model(family, image_size=size, **({"sample_steps": 1} if family == "ddpm" else {}))
    assert isinstance(model, GenerativeModel) and model.family == family
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, size, size)


def test_bad_channels_is_a_config_error(family: str) -> None:
    with pytest.raises(ConfigError, match=r"ingest\.channels=2"):
        tiny_model(family, channels=2)


def test_config_dict_round_trips_through_the_registry(family: str) -> None:
    model = tiny_model(family, num_classes=2)
    rebuilt = build_model(family, model.config_dict())
    rebuilt.load_state_dict(model.state_dict())
    g = torch.Generator
    assert torch.equal(rebuilt.sample(2, generator=g().manual_seed(0)), model.sample(2, generator=g().manual_seed(0)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_loss_and_cpu_generator_samples(family: str) -> None:
    model = tiny_model(family).cuda().to(memory_format=torch.channels_last)
    images, _ = fake_batch()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        for group in model.groups():
            loss = model.loss(group, images.cuda(), None, step=0)["loss"]
            assert loss.dtype == torch.float32 and torch.isfinite(loss)
            loss.backward()
    cpu = tiny_model(family)
    cuda = tiny_model(family).cuda()
    a = cpu.sample(3, generator=torch.Generator().manual_seed(0))
    b = cuda.sample(3, generator=torch.Generator().manual_seed(0)).cpu()
    assert torch.allclose(a, b, atol=1e-3)  # a CPU generator gives the same noise on either device


def test_one_generator_per_image_makes_samples_independent_of_the_batch(family: str) -> None:
    """With a generator per image, image i is the same drawn alone or in any batch (the sample stage relies on it)."""
    model = tiny_model(family, num_classes=2, **({"eta": 1.0} if family == "ddpm" else {}))
    seeds, labels = [5, 6, 7], torch.tensor([1, 0, 1])
    batch = model.sample(3, labels=labels, generator=[torch.Generator().manual_seed(s) for s in seeds])
    alone = torch.cat(
        [
            model.sample(1, labels=labels[i : i + 1], generator=torch.Generator().manual_seed(s))
            for i, s in enumerate(seeds)
        ]
    )
    assert torch.allclose(batch, alone, atol=1e-5)
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        model.sample(3, labels=labels, generator=[torch.Generator(), torch.Generator()])


@pytest.mark.parametrize(("family", "group"), [("vae", "vae"), ("ddpm", "unet")])
def test_likelihood_models_train_with_their_own_lr_and_plain_momentum(family: str, group: str) -> None:
    fields = {"image_size": 16, "channels": 1, "num_classes": 0, "width": 8}
    assert build_model(family, fields).optimizer_settings() == {
        group: {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0}
    }
    model = build_model(family, {**fields, "lr": 5e-4, "betas": [0.8, 0.99], "weight_decay": 0.01})
    assert model.optimizer_settings() == {group: {"lr": 5e-4, "betas": (0.8, 0.99), "weight_decay": 0.01}}


def test_latent_scale_draws_the_same_code_scaled_and_only_latent_families_take_one(family: str) -> None:
    """sample.latent_scale: the same seed's code times s (so one seed keeps its image's direction)."""
    from genqc.models.configs import latent_families

    model = tiny_model(family)
    seed = torch.Generator
    if family not in latent_families():
        with pytest.raises(ValueError, match=f"{family} has no latent code"):
            model.sample(2, generator=seed().manual_seed(0), latent_scale=1.2)
        return
    _, z = model.latent_inputs(model.ema_module(), 2, None, seed().manual_seed(0))
    _, scaled = model.latent_inputs(model.ema_module(), 2, None, seed().manual_seed(0), 1.2)
    assert torch.allclose(scaled, 1.2 * z)
    warm = model.sample(2, generator=seed().manual_seed(0), latent_scale=1.2)
    assert not torch.allclose(warm, model.sample(2, generator=seed().manual_seed(0)))
