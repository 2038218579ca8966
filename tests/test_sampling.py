"""genqc.sampling: per-image seeds, batch-size invariance, mixtures, class balance and rejection filtering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from genqc.data.tensors import tensor_to_uint8
from genqc.models.base import GenerativeModel
from genqc.sampling import SCORE, Source, image_seed, mixture_counts, plan_slots, sample_images


@dataclass(frozen=True)
class FakeConfig:
    image_size: int = 8
    channels: int = 1
    num_classes: int = 0
    latent_dim: int = 6
    offset: float = 0.0  # shifts every image: two fakes with different offsets are told apart


class FakeModel(GenerativeModel):
    """A random linear decoder (with BatchNorm in eval mode, as the real generators) behind the real contract."""

    family = "fake"

    def __init__(self, config: FakeConfig = FakeConfig(), seed: int = 0) -> None:
        super().__init__(config)
        torch.manual_seed(seed)
        dim = config.channels * config.image_size**2
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim + config.num_classes, 32), nn.BatchNorm1d(32), nn.Tanh(), nn.Linear(32, dim)
        )
        self.decoder.eval()

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"g": list(self.parameters())}

    def loss(self, group, images, labels, step):
        return {"loss": self.decoder[0].weight.sum() * 0}

    def ema_module(self) -> nn.Module:
        return self.decoder

    @torch.no_grad()
    def sample(self, n, *, labels=None, generator=None, module=None, latent_scale=1.0):
        net = module if module is not None else self.decoder
        c = self.config
        labels, z = self.latent_inputs(net, n, labels, generator, latent_scale)
        if c.num_classes:
            z = torch.cat([z, nn.functional.one_hot(labels, c.num_classes).float() * 3], dim=1)
        out = torch.tanh(net(z) + c.offset).view(n, c.channels, c.image_size, c.image_size)  # (B, D) -> (B,C,H,W)
        return out


def test_image_seeds_are_stable_distinct_and_fit_int64() -> None:
    seeds = [image_seed(0, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert image_seed(0, 5) == image_seed(0, 5) != image_seed(1, 5)
    assert image_seed(0, 0) == 6430890415292267947  # a changed recipe would silently change every sample


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    source = [Source("fake", FakeModel())]
    a = sample_images(source, 6, seed=3, batch_size=4)
    b = sample_images(source, 6, seed=3, batch_size=4)
    c = sample_images(source, 6, seed=4, batch_size=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.seed, b.seed)
    assert not np.array_equal(a.images, c.images)


def test_batch_size_does_not_change_the_images() -> None:
    source = [Source("fake", FakeModel())]
    four = sample_images(source, 8, seed=0, batch_size=4)
    eight = sample_images(source, 8, seed=0, batch_size=8)
    one = sample_images(source, 8, seed=0, batch_size=1)
    assert np.array_equal(four.images, eight.images) and np.array_equal(four.images, one.images)


def test_any_single_row_regenerates_from_its_seed() -> None:
    model = FakeModel(FakeConfig(num_classes=3))
    result = sample_images([Source("fake", model)], 7, seed=11, batch_size=3)
    row = 5
    again = model.sample(
        1, labels=torch.tensor([result.label[row]]), generator=torch.Generator().manual_seed(int(result.seed[row]))
    )
    assert np.array_equal(tensor_to_uint8(again)[0], result.images[row])


def test_a_row_drawn_at_a_latent_scale_regenerates_with_it_and_differs_from_scale_one() -> None:
    model = FakeModel(FakeConfig(num_classes=3))
    warm = sample_images([Source("fake", model, latent_scale=1.5)], 6, seed=3, batch_size=4)
    plain = sample_images([Source("fake", model)], 6, seed=3, batch_size=4)
    assert np.array_equal(warm.seed, plain.seed) and not np.array_equal(warm.images, plain.images)
    row = 4
    generator = torch.Generator().manual_seed(int(warm.seed[row]))
    again = model.sample(1, labels=torch.tensor([warm.label[row]]), generator=generator, latent_scale=1.5)
    assert np.array_equal(tensor_to_uint8(again)[0], warm.images[row])


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan")])
def test_a_latent_scale_that_is_not_a_positive_number_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="latent_scale must be a positive finite number"):
        FakeModel().sample(2, latent_scale=scale)


def test_conditional_models_get_balanced_cycling_labels() -> None:
    result = sample_images([Source("fake", FakeModel(FakeConfig(num_classes=4)))], 10, seed=0, batch_size=3)
    assert result.label.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    unconditional = sample_images([Source("fake", FakeModel())], 3, seed=0, batch_size=3)
    assert unconditional.label.tolist() == [-1, -1, -1]


def test_mixture_counts_use_largest_remainders() -> None:
    assert mixture_counts(10, [1, 1, 1]) == [4, 3, 3]
    assert mixture_counts(10, [3, 1]) == [8, 2]  # 7.5 / 2.5: the tie goes to the first source
    assert mixture_counts(5, [0, 1]) == [0, 5]
    with pytest.raises(ValueError, match="non-negative with a positive sum"):
        mixture_counts(5, [0, 0])


def test_ensemble_rows_record_their_source_in_the_requested_shares() -> None:
    a = Source("a", FakeModel(FakeConfig(offset=-2.0), seed=1))
    b = Source("b", FakeModel(FakeConfig(offset=2.0), seed=2))
    result = sample_images([a, b], 9, seed=0, batch_size=4, weights=[2, 1])
    assert result.source.count("a") == 6 and result.source.count("b") == 3
    assert result.source[:3] == ["a", "b", "a"]  # interleaved, not blocked
    means = {name: result.images[[s == name for s in result.source]].mean() for name in ("a", "b")}
    assert means["a"] < 64 < 192 < means["b"]  # each row's pixels came from the source it names
    slots, _ = plan_slots(9, [a, b], [2, 1])
    assert np.bincount(slots).tolist() == [6, 3]


def _brightness_scorer(images: np.ndarray) -> dict[str, np.ndarray]:
    mean = images.reshape(len(images), -1).mean(axis=1) / 255.0  # (B, H, W, C) -> (B,)
    return {SCORE: mean, "brightness": mean}


def test_filter_keeps_only_draws_above_the_threshold_and_counts_the_rest() -> None:
    source = [Source("fake", FakeModel(FakeConfig(num_classes=2)))]
    plain = sample_images(source, 40, seed=0, batch_size=16, scorer=_brightness_scorer)
    threshold = float(np.median(plain.columns["brightness"]))
    result = sample_images(
        source, 12, seed=0, batch_size=5, scorer=_brightness_scorer, threshold=threshold, max_draws=20
    )
    assert result.complete and result.accepted == 12
    assert (result.columns[SCORE] >= threshold).all()
    assert result.drawn == result.accepted + len(result.rejected["index"]) > 12
    assert (result.rejected[SCORE] < threshold).all()
    assert 0 < result.acceptance_rate < 1
    assert np.bincount(result.label).tolist() == [6, 6]  # redrawn slots keep their class: still balanced
    indices = np.concatenate([result.index, result.rejected["index"]])
    assert sorted(indices.tolist()) == list(range(result.drawn))  # every candidate accounted for once
    same = sample_images(
        source, 12, seed=0, batch_size=12, scorer=_brightness_scorer, threshold=threshold, max_draws=20
    )
    assert np.array_equal(same.images, result.images)  # the filter does not depend on the batch size either


def test_filter_stops_at_the_draw_cap_and_says_it_is_short() -> None:
    result = sample_images(
        [Source("fake", FakeModel())], 5, seed=0, batch_size=5, scorer=_brightness_scorer, threshold=2.0, max_draws=3
    )
    assert not result.complete and result.accepted == 0 and result.drawn == 15
    assert len(result.rejected["index"]) == 15


def test_nan_scores_never_pass_the_filter() -> None:
    def nan_scorer(images: np.ndarray) -> dict[str, np.ndarray]:
        return {SCORE: np.full(len(images), np.nan)}

    result = sample_images(
        [Source("fake", FakeModel())], 3, seed=0, batch_size=3, scorer=nan_scorer, threshold=0.0, max_draws=1
    )
    assert result.accepted == 0
