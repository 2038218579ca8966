"""Standing BatchNorm statistics: an EMA generator's BatchNorm describes its own activations, not the live net's."""

from __future__ import annotations

import copy

import torch

from genqc.models.standing_stats import batchnorm_layers
from tests.models.conftest import tiny_model


def _ema_like_copy(model) -> torch.nn.Module:
    """A copy of the generator with other weights, as an EMA copy has, and the live net's BatchNorm buffers."""
    ema = copy.deepcopy(model.ema_module())
    with torch.no_grad():
        for p in ema.parameters():
            p.mul_(1.5)
    return ema


def test_the_statistics_are_the_mean_of_the_modules_own_activations() -> None:
    model = tiny_model("dcgan", num_classes=3)
    ema = _ema_like_copy(model)
    standing = model.standing_statistics(ema, draws=512, batch_size=256)
    # the same draws by hand: a fixed-seed generator, labels cycling per batch, the first BatchNorm's input
    generator, means = torch.Generator().manual_seed(0), []
    with torch.no_grad():
        for _ in range(2):
            _, z = model.latent_inputs(ema, 256, None, generator)
            h = ema.project(z).view(256, ema.base, 4, 4)
            means.append(h.mean(dim=(0, 2, 3)))
    first = standing.norm0.norm
    assert torch.allclose(first.running_mean, torch.stack(means).mean(0), atol=1e-5)
    assert not torch.allclose(first.running_mean, ema.norm0.norm.running_mean)  # the live buffers described others
    assert not standing.training and first.momentum == ema.norm0.norm.momentum  # ready to sample, momentum restored


def test_the_ema_module_itself_is_left_as_training_made_it() -> None:
    """last.pt keeps the EMA state for a resume: recomputing statistics for ema.pt must not touch it."""
    model = tiny_model("dcgan")
    ema = _ema_like_copy(model)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    standing = model.standing_statistics(ema, draws=256)
    assert standing is not ema
    assert all(torch.equal(before[k], v) for k, v in ema.state_dict().items())


def test_the_result_is_a_pure_function_of_the_weights() -> None:
    model = tiny_model("dcgan")
    ema = _ema_like_copy(model)
    torch.manual_seed(1)
    a = model.standing_statistics(ema, draws=300, batch_size=128)
    torch.manual_seed(2)  # global RNG state plays no part
    b = model.standing_statistics(ema, draws=300, batch_size=128)
    for x, y in zip(batchnorm_layers(a), batchnorm_layers(b), strict=True):
        assert torch.equal(x.running_mean, y.running_mean) and torch.equal(x.running_var, y.running_var)


def test_zero_draws_and_families_without_batchnorm_return_the_module_as_it_is(family: str) -> None:
    model = tiny_model(family)
    module = model.ema_module()
    assert model.standing_statistics(module, draws=0) is module
    if family != "dcgan":  # GroupNorm (ddpm) or no normalisation (vae): nothing to recompute
        assert not batchnorm_layers(module)
        assert model.standing_statistics(module, draws=256) is module
