"""The diffusion process apart from any network: schedules, forward noising and both samplers."""

from __future__ import annotations

import math

import pytest
import torch

from genqc.models.diffusion import GaussianDiffusion, make_betas
from tests.models.conftest import tiny_model


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_schedule_is_a_valid_noise_path(schedule: str) -> None:
    diffusion = GaussianDiffusion(1000, schedule)
    ab = diffusion.alpha_bar
    assert ab.dtype == torch.float64 and (ab[1:] < ab[:-1]).all()  # strictly more noise each step
    assert 0.99 < ab[0] < 1 and ab[-1] < 1e-4  # starts clean, ends (almost) pure noise
    assert (diffusion.betas > 0).all() and (diffusion.betas <= 0.999).all()


def test_linear_schedule_matches_ho_et_al() -> None:
    betas = make_betas("linear", 1000)
    assert math.isclose(betas[0], 1e-4) and math.isclose(betas[-1], 0.02)


def test_cosine_schedule_follows_its_closed_form() -> None:
    ab = GaussianDiffusion(100, "cosine").alpha_bar
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert math.isclose(ab[49], f(50) / f(0), rel_tol=1e-9)


def test_unknown_schedule_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"train.ddpm.schedule='quadratic': allowed: cosine, linear"):
        make_betas("quadratic", 10)


def test_q_sample_mixes_signal_and_noise_by_alpha_bar() -> None:
    diffusion = GaussianDiffusion(100, "linear")
    x0, noise = torch.ones(2, 1, 4, 4), torch.full((2, 1, 4, 4), 2.0)
    t = torch.tensor([0, 99])
    xt = diffusion.q_sample(x0, t, noise)
    for i, step in enumerate(t.tolist()):
        ab = float(diffusion.alpha_bar[step])
        assert torch.allclose(xt[i], torch.full_like(xt[i], math.sqrt(ab) + 2 * math.sqrt(1 - ab)))


def _oracle(diffusion: GaussianDiffusion, x0: torch.Tensor):
    """A perfect noise predictor for data that is always ``x0``."""

    def net(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        ab = diffusion.alpha_bar[t].float().view(-1, 1, 1, 1)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    return net


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_samplers_recover_the_data_with_a_perfect_denoiser(schedule: str) -> None:
    """With the true noise, DDIM (any eta, any step count) and the ancestral chain both land on x0."""
    diffusion = GaussianDiffusion(200, schedule)
    x0 = torch.linspace(-0.9, 0.9, 16).view(1, 1, 4, 4).repeat(3, 1, 1, 1)
    net = _oracle(diffusion, x0)
    g = torch.Generator
    for steps, eta in [(10, 0.0), (7, 1.0), (200, 0.5)]:
        out = diffusion.ddim_sample(net, x0.shape, steps=steps, eta=eta, generator=g().manual_seed(0))
        assert torch.allclose(out, x0, atol=1e-4), (steps, eta)
    out = diffusion.ancestral_sample(net, x0.shape, generator=g().manual_seed(0))
    assert torch.allclose(out, x0, atol=1e-4)


def test_ddim_eta0_is_deterministic_and_eta1_is_not() -> None:
    model = tiny_model("ddpm", sample_steps=4)
    g = torch.Generator
    a = model.sample(3, generator=g().manual_seed(3), eta=0.0)
    assert torch.equal(a, model.sample(3, generator=g().manual_seed(3), eta=0.0))
    # eta > 0 draws fresh noise at every step: same start, one generator per run, different continuation
    start = g().manual_seed(3)
    b = model.sample(3, generator=start, eta=1.0)
    assert torch.equal(b, model.sample(3, generator=g().manual_seed(3), eta=1.0))  # still seed-reproducible
    assert not torch.allclose(a, b)


def test_ancestral_sampler_runs_every_timestep() -> None:
    model = tiny_model("ddpm", timesteps=12, sampler="ancestral")
    calls = []
    hook = model.unet.register_forward_hook(lambda *args: calls.append(1))
    out = model.sample(2, generator=torch.Generator().manual_seed(0))
    hook.remove()
    assert out.shape == (2, 1, 16, 16) and len(calls) == 12
    calls.clear()
    model.unet.register_forward_hook(lambda *args: calls.append(1))
    model.sample(2, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=5)
    assert len(calls) == 5


def test_the_network_never_sees_the_schedule() -> None:
    """Swapping the schedule changes the process, not the network: the same U-Net weights load into both."""
    cosine = tiny_model("ddpm", schedule="cosine")
    linear = tiny_model("ddpm", schedule="linear")
    linear.load_state_dict(cosine.state_dict())
    assert not any("beta" in key or "alpha" in key for key in cosine.state_dict())


def test_ddpm_config_errors() -> None:
    with pytest.raises(ValueError, match=r"train.ddpm.sampler='euler'"):
        tiny_model("ddpm", sampler="euler")
    with pytest.raises(ValueError, match=r"train.ddpm.eta=2"):
        tiny_model("ddpm", eta=2)
    with pytest.raises(ValueError, match=r"train.ddpm.min_snr_gamma=-1.*must be >= 0"):
        tiny_model("ddpm", min_snr_gamma=-1)


def test_min_snr_weighting_caps_each_images_error_by_its_timesteps_snr() -> None:
    """loss = mean_i min(SNR_t_i, g) / SNR_t_i * |eps_i|² for a net predicting zero; g = 0 is the plain mean."""
    diffusion = GaussianDiffusion(100, "cosine")
    x0 = torch.rand(16, 1, 4, 4) * 2 - 1

    def zero_net(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return torch.zeros_like(x)

    torch.manual_seed(3)
    t = torch.randint(0, 100, (16,))
    noise = torch.randn_like(x0)
    per_image = noise.pow(2).flatten(1).mean(1)
    snr = diffusion.snr[t].float()
    for gamma, weight in ((0.0, torch.ones(16)), (5.0, snr.clamp(max=5.0) / snr)):
        torch.manual_seed(3)
        assert diffusion.loss(zero_net, x0, None, min_snr_gamma=gamma).item() == pytest.approx(
            (weight * per_image).mean().item(), rel=1e-6
        )
    assert (snr > 5).any() and (snr < 5).any()  # both sides of the cap were exercised
