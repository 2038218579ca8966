"""DiffAugment: gradients reach the input, and real and fake batches get the same kinds of transform."""

from __future__ import annotations

import pytest
import torch

from genqc.augment import DIFF_POLICIES, diff_augment, parse_policy
from genqc.errors import ConfigError
from genqc.models.configs import DIFFAUGMENT_OPS


def _batches() -> dict[str, torch.Tensor]:
    """A 'real' batch and a 'fake' one produced by a tiny generator, both (8, 1, 16, 16) in [-1, 1]."""
    torch.manual_seed(0)
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    generator = torch.nn.Sequential(torch.nn.Linear(4, 256), torch.nn.Tanh())
    fake = generator(torch.randn(8, 4)).view(8, 1, 16, 16)  # (B, 256) -> (B, 1, 16, 16)
    return {"real": real, "fake": fake}


def _is_shift(x: torch.Tensor, y: torch.Tensor, max_shift: int) -> bool:
    """y is x shifted by an integer (dy, dx) within max_shift, zero-filled."""
    height, width = x.shape[-2:]
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            expected = torch.zeros_like(x)
            src = x[..., max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)]
            expected[..., max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)] = src
            if torch.equal(expected, y):
                return True
    return False


@pytest.mark.parametrize("kind", ["real", "fake"])
def test_translation_is_an_integer_shift_of_at_most_an_eighth(kind: str) -> None:
    x = _batches()[kind].detach()
    y = diff_augment(x, "translation", generator=torch.Generator().manual_seed(1))
    assert all(_is_shift(x[i], y[i], max_shift=2) for i in range(len(x)))  # 16 / 8 = 2 px
    assert not torch.equal(x, y)


@pytest.mark.parametrize("kind", ["real", "fake"])
def test_cutout_zeroes_one_clipped_half_side_square(kind: str) -> None:
    x = _batches()[kind].detach()
    y = diff_augment(x, "cutout", generator=torch.Generator().manual_seed(2))
    for xi, yi in zip(x, y, strict=True):
        changed = (yi != xi)[0]
        rows, cols = changed.any(dim=1).nonzero().flatten(), changed.any(dim=0).nonzero().flatten()
        assert (yi[0][changed] == 0).all()
        assert len(rows) <= 8 and len(cols) <= 8 and changed.sum() == len(rows) * len(cols)  # a (clipped) square
        assert (rows.diff() == 1).all() and (cols.diff() == 1).all()


@pytest.mark.parametrize("kind", ["real", "fake"])
def test_color_is_a_per_sample_affine_map_on_grey_images(kind: str) -> None:
    x = _batches()[kind].detach().double()
    y = diff_augment(x, "color", generator=torch.Generator().manual_seed(3))
    for xi, yi in zip(x.flatten(1), y.flatten(1), strict=True):
        design = torch.stack([xi, torch.ones_like(xi)], dim=1)  # (H*W, 2)
        coeffs = torch.linalg.lstsq(design, yi[:, None]).solution
        torch.testing.assert_close(design @ coeffs, yi[:, None], atol=1e-9, rtol=0)
        assert 0 <= coeffs[0].item() <= 3.0  # saturation x contrast factors: U(0, 2) x U(0.5, 1.5)


def test_gradients_flow_to_the_input_and_the_generator() -> None:
    torch.manual_seed(0)
    generator = torch.nn.Sequential(torch.nn.Linear(4, 3 * 16 * 16), torch.nn.Tanh())
    fake = generator(torch.randn(8, 4)).view(8, 3, 16, 16)  # (B, 768) -> (B, 3, 16, 16)
    fake.retain_grad()
    diff_augment(fake, generator=torch.Generator().manual_seed(0)).square().sum().backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_shape_dtype_and_reproducibility_with_a_seeded_generator() -> None:
    x = _batches()["real"]
    a = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(7))
    b = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(7))
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_the_config_allows_exactly_the_ops_diff_augment_implements() -> None:
    assert set(DIFFAUGMENT_OPS) == set(DIFF_POLICIES)
    x = _batches()["real"]
    for name in DIFFAUGMENT_OPS:
        assert diff_augment(x, name).shape == x.shape


def test_empty_policy_is_the_identity_and_unknown_ops_are_config_errors() -> None:
    x = _batches()["real"]
    assert diff_augment(x, "") is x
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    assert set(parse_policy(",".join(DIFF_POLICIES))) == set(DIFF_POLICIES)
    with pytest.raises(ConfigError, match=r"unknown op\(s\) colour; allowed: color, translation, cutout"):
        diff_augment(x, "colour,translation")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_with_a_cuda_generator() -> None:
    x = (torch.rand(4, 3, 16, 16, device="cuda") * 2 - 1).requires_grad_()
    y = diff_augment(x, generator=torch.Generator(device="cuda").manual_seed(0))
    y.sum().backward()
    assert y.device.type == "cuda" and y.shape == x.shape and torch.isfinite(x.grad).all()
