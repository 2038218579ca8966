"""VAE specifics: likelihoods, the beta-weighted KL, reconstruction and a conditional model that learns its classes."""

from __future__ import annotations

import pytest
import torch

from tests.models.conftest import SIZE, fake_batch, tiny_model


def two_classes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: bright left half; class 1: bright right half (plus a little noise), in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.full((n, 1, SIZE, SIZE), -0.9)
    images[labels == 0, :, :, : SIZE // 2] = 0.9
    images[labels == 1, :, :, SIZE // 2 :] = 0.9
    return (images + 0.05 * torch.randn(images.shape, generator=g)).clamp(-1, 1), labels


def test_conditional_vae_samples_the_requested_class() -> None:
    """After a few dozen steps, samples asked for class k sit closer to class k's mean than to the other's."""
    torch.manual_seed(0)
    model = tiny_model("vae", num_classes=2)
    images, labels = two_classes(32)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(40):
        optimiser.zero_grad(set_to_none=True)
        model.loss("vae", images, labels, step)["loss"].backward()
        optimiser.step()
    means = torch.stack([images[labels == k].mean(0) for k in (0, 1)])  # (2, 1, S, S)
    requested = torch.tensor([0, 1] * 8)
    samples = model.sample(16, labels=requested, generator=torch.Generator().manual_seed(0))
    distances = ((samples[:, None] - means[None]) ** 2).flatten(2).mean(2)  # (16, 2)
    assert torch.equal(distances.argmin(1), requested)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_is_nll_plus_beta_kl(likelihood: str) -> None:
    images, _ = fake_batch()
    for beta in (0.0, 4.0):
        model = tiny_model("vae", likelihood=likelihood, beta=beta)
        torch.manual_seed(1)
        out = model.loss("vae", images, None, step=0)
        assert out["kl"] >= 0
        assert torch.allclose(out["loss"], out["nll"] + beta * out["kl"])


def test_gaussian_likelihood_learns_its_scale_and_stays_finite() -> None:
    model = tiny_model("vae", likelihood="gaussian")
    images, _ = fake_batch(8)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(15):
        optimiser.zero_grad(set_to_none=True)
        loss = model.loss("vae", images, None, step)["loss"]
        loss.backward()
        optimiser.step()
        assert torch.isfinite(loss)
    assert model.net.log_scale.grad is not None and model.net.log_scale.abs().sum() > 0


def test_reconstruct_is_deterministic_and_improves_with_training() -> None:
    model = tiny_model("vae")
    images, labels = two_classes(16)
    before = ((model.reconstruct(images) - images) ** 2).mean()
    assert torch.equal(model.reconstruct(images), model.reconstruct(images))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(30):
        optimiser.zero_grad(set_to_none=True)
        model.loss("vae", images, None, step)["loss"].backward()
        optimiser.step()
    out = model.reconstruct(images)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1
    assert ((out - images) ** 2).mean() < 0.75 * before
    conditional = tiny_model("vae", num_classes=2)
    assert conditional.reconstruct(images, labels).shape == images.shape
    with pytest.raises(ValueError, match="needs labels"):
        conditional.reconstruct(images)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"train.vae.likelihood='laplace'"):
        tiny_model("vae", likelihood="laplace")
    with pytest.raises(ValueError, match=r"train.vae.beta=-1"):
        tiny_model("vae", beta=-1)
