"""DCGAN specifics: both losses, spectral norm, the R1 penalty and DiffAugment."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genqc.models import dcgan
from tests.models.conftest import fake_batch, tiny_model


@pytest.mark.parametrize("loss", ["non_saturating", "hinge"])
def test_losses_follow_their_formulas(loss: str) -> None:
    model = tiny_model("dcgan", loss=loss, spectral_norm=False)  # SN's power iteration would move between calls
    images, _ = fake_batch()
    torch.manual_seed(5)
    out = model.loss("d", images, None, step=0)
    torch.manual_seed(5)
    z = torch.randn(8, model.config.latent_dim)
    with torch.no_grad():
        fake = model.generator(z)
        real_logits, fake_logits = model.discriminator(images), model.discriminator(fake)
    if loss == "hinge":
        expected = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    else:
        expected = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    assert torch.allclose(out["loss"], expected, atol=1e-5)


def test_generator_step_leaves_discriminator_untouched_and_d_step_uses_no_generator_graph() -> None:
    model = tiny_model("dcgan")
    images, _ = fake_batch()
    model.loss("d", images, None, step=0)["loss"].backward()
    assert all(p.grad is None for p in model.generator.parameters())  # fakes are detached in the D step
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_spectral_norm_bounds_the_discriminator_layers() -> None:
    with_sn, without = tiny_model("dcgan", spectral_norm=True), tiny_model("dcgan", spectral_norm=False)
    images, _ = fake_batch()
    for _ in range(5):  # power iterations converge while the discriminator runs in train mode
        with_sn.discriminator(images)
    for layer in with_sn.discriminator.downs:
        sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
        assert sigma < 1.3
    assert not hasattr(without.discriminator.downs[0], "parametrizations")
    # without SN the discriminator uses BatchNorm after every conv but the first (the DCGAN recipe)
    assert [type(n).__name__ for n in without.discriminator.norms] == ["Identity", "BatchNorm2d"]
    assert all(type(n).__name__ == "Identity" for n in with_sn.discriminator.norms)


def test_r1_penalty_is_added_and_logged() -> None:
    images, _ = fake_batch()
    model = tiny_model("dcgan", r1_gamma=10.0, spectral_norm=True)
    torch.manual_seed(0)
    out = model.loss("d", images, None, step=0)
    assert out["r1"] > 0
    assert torch.allclose(out["loss"], out["adversarial"] + 5.0 * out["r1"])
    out["loss"].backward()  # the penalty's double backward works through spectral norm
    assert "r1" not in tiny_model("dcgan").loss("d", images, None, step=0)


def test_mode_seeking_term_pairs_codes_of_one_label_and_follows_msgans_formula() -> None:
    """G pays weight / ratio, ratio = mean |G(z1, c) - G(z2, c)| / mean |z1 - z2| over pairs (i, i + B/2)."""
    model = tiny_model("dcgan", num_classes=3, mode_seeking=2.0, spectral_norm=False)
    labels = torch.tensor([0, 1, 2, 0, 2, 2, 1, 1])
    torch.manual_seed(5)
    out = model.loss("g", fake_batch()[0], labels, step=0)
    torch.manual_seed(5)
    z = torch.randn(8, model.config.latent_dim)
    paired = torch.cat([labels[:4], labels[:4]])  # the second half takes the first half's labels
    with torch.no_grad():
        fake = model.generator(z, paired)
        logits = model.discriminator(fake, paired)
    ratio = ((fake[:4] - fake[4:]).abs().flatten(1).mean(1) / (z[:4] - z[4:]).abs().mean(1)).mean()
    assert torch.allclose(out["mode_seeking"], ratio, atol=1e-6)
    assert torch.allclose(out["loss"], F.softplus(-logits).mean() + 2.0 / (ratio + dcgan.MODE_SEEKING_EPS), atol=1e-5)
    assert torch.allclose(out["adversarial"], F.softplus(-logits).mean(), atol=1e-5)  # logged apart from the term
    out["loss"].backward()
    assert "mode_seeking" not in tiny_model("dcgan", mode_seeking=0.0).loss("g", fake_batch()[0], None, step=0)


def test_unknown_diffaugment_op_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"train.dcgan.diffaugment='translation,blur': unknown op\(s\) blur"):
        tiny_model("dcgan", diffaugment="translation,blur")
    with pytest.raises(ValueError, match=r"train.dcgan.loss='wgan'"):
        tiny_model("dcgan", loss="wgan")


def test_diffaugment_runs_on_real_and_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    images, _ = fake_batch()
    model = tiny_model("dcgan", diffaugment="translation,cutout,color")
    seen = []
    original = dcgan.diff_augment

    def spy(x, policy, generator=None):
        seen.append((x.shape[0], policy))
        return original(x, policy, generator=generator)

    monkeypatch.setattr(dcgan, "diff_augment", spy)
    for group in ("d", "g"):
        out = model.loss(group, images, None, step=0)
        assert torch.isfinite(out["loss"])
        out["loss"].backward()
    assert seen == [(8, "translation,cutout,color")] * 3  # real and fake in the D step, fake in the G step


def test_lr_d_is_the_discriminators_own_lr_with_the_shared_betas() -> None:
    shared = {"lr": 1e-3, "betas": (0.5, 0.999), "weight_decay": 0.0}
    assert tiny_model("dcgan").optimizer_settings() == {"d": shared, "g": shared}
    assert tiny_model("dcgan", lr_d=4e-4).optimizer_settings() == {"d": {**shared, "lr": 4e-4}, "g": shared}
