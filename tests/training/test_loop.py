"""The training loop on a toy model: learning, resume, NaN guard, refusal wording, EMA, data order."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from genqc.errors import ConfigError, DataError
from genqc.training.checkpoint import EMA_FILE, LAST, load_checkpoint, read_checkpoint
from genqc.training.device import resolve_device
from genqc.training.ema import EMA
from genqc.training.loop import TrainConfig, train
from genqc.training.order import BatchOrder
from tests.models.conftest import tiny_model
from tests.training.toy import ToyConfig, ToyModel, register_toy, toy_images

CPU = torch.device("cpu")
FIELDS = {"train.model": "toy", "train.lr": 0.01, "train.batch_size": 8, "seed": 0}


def _model(**overrides) -> ToyModel:
    torch.manual_seed(0)
    return ToyModel(ToyConfig(**overrides))


def _config(**overrides) -> TrainConfig:
    base = dict(steps=6, batch_size=8, seed=0, ema_decay=0.9, checkpoint_every=2, image_every=100, log_every=100)
    return TrainConfig(**{**base, **overrides})


def _full_loss(model: ToyModel, images: torch.Tensor) -> float:
    torch.manual_seed(123)
    batch = images.permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, H, W, C) -> (N, C, H, W)
    with torch.no_grad():
        return model.loss("enc", batch, None, 0)["loss"].item()


def test_a_few_steps_lower_the_loss() -> None:
    images, model = toy_images(), _model(lr=0.02)
    before = _full_loss(model, images)
    train(model, images, None, _config(steps=40), fields=FIELDS, run_dir=None, log_dir=None, device=CPU)
    assert _full_loss(model, images) < 0.5 * before


def test_resume_from_a_checkpoint_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    images = toy_images()
    straight = _model()
    train(straight, images, None, _config(steps=6), fields=FIELDS, run_dir=tmp_path / "a", log_dir=None, device=CPU)
    first = _model()
    train(first, images, None, _config(steps=4), fields=FIELDS, run_dir=tmp_path / "b", log_dir=None, device=CPU)
    torch.manual_seed(999)  # a resumed process starts with other global RNG state: the loop reseeds every step
    resumed = _model()  # fresh weights: everything must come from last.pt
    result = train(
        resumed, images, None, _config(steps=6), fields=FIELDS, run_dir=tmp_path / "b", log_dir=None, device=CPU
    )
    assert (result.start_step, result.final_step) == (4, 6)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    ema_a = read_checkpoint(tmp_path / "a" / EMA_FILE)["sampling"]
    ema_b = read_checkpoint(tmp_path / "b" / EMA_FILE)["sampling"]
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_checkpoint_round_trip_rebuilds_the_model_from_the_file_alone(tmp_path: Path) -> None:
    register_toy()
    model = _model(latent_dim=3)
    train(model, toy_images(), None, _config(steps=3), fields=FIELDS, run_dir=tmp_path, log_dir=None, device=CPU)
    loaded = load_checkpoint(tmp_path / LAST, use_ema=False)
    assert loaded.family == "toy" and loaded.step == 3 and loaded.config["latent_dim"] == 3
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values(), strict=True)
    )
    with_ema = load_checkpoint(tmp_path / LAST)
    from_small = load_checkpoint(tmp_path / EMA_FILE)
    assert with_ema.ema and from_small.ema
    for key, value in with_ema.sampler.state_dict().items():
        assert torch.equal(value, from_small.sampler.state_dict()[key])
    assert not torch.equal(with_ema.sampler.weight, model.decoder.weight)  # EMA differs from the raw weights
    samples = from_small.model.sample(4, generator=torch.Generator().manual_seed(0), module=from_small.sampler)
    assert samples.shape == (4, 1, 8, 8)


@pytest.mark.parametrize("draws", [0, 256])
def test_ema_pt_holds_batchnorm_statistics_of_the_ema_weights_themselves(tmp_path: Path, draws: int) -> None:
    """ema.pt's BatchNorm buffers are recomputed under the EMA weights (draws > 0) or copied from the live net (0)."""
    model = tiny_model("dcgan", image_size=8)
    images = toy_images()
    cfg = _config(steps=4, ema_bn_draws=draws)
    train(model, images, None, cfg, fields=FIELDS, run_dir=tmp_path, log_dir=None, device=CPU)
    ema_state = read_checkpoint(tmp_path / LAST)["ema"]["module"]  # what a resume continues from
    sampling = read_checkpoint(tmp_path / EMA_FILE)["sampling"]
    ema = copy.deepcopy(model.ema_module())
    ema.load_state_dict(ema_state)
    expected = model.standing_statistics(ema, draws=draws).state_dict()
    for key, value in sampling.items():
        assert torch.equal(value, expected[key]), key
    recomputed = [k for k in sampling if k.endswith("running_mean") and not torch.equal(sampling[k], ema_state[k])]
    assert bool(recomputed) == (draws > 0)
    assert all(
        torch.equal(sampling[k], ema_state[k])
        for k in sampling
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    model = _model(nan_at=4)  # the 5th step (0-based index 4) goes NaN; checkpoints every 2 steps
    with pytest.raises(DataError) as info:
        train(model, toy_images(), None, _config(steps=8), fields=FIELDS, run_dir=tmp_path, log_dir=None, device=CPU)
    message = str(info.value)
    assert "non-finite loss at step 5 of 8" in message and "loss=nan" in message
    assert f"{tmp_path / LAST} (step 4) is intact" in message
    assert info.value.exit_code == 1
    state = read_checkpoint(tmp_path / LAST)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_a_checkpoint_from_other_settings_is_refused_naming_the_changed_keys(tmp_path: Path) -> None:
    train(_model(), toy_images(), None, _config(steps=2), fields=FIELDS, run_dir=tmp_path, log_dir=None, device=CPU)
    changed = {**FIELDS, "train.lr": 0.02}
    with pytest.raises(ConfigError) as info:
        train(
            _model(), toy_images(), None, _config(steps=4), fields=changed, run_dir=tmp_path, log_dir=None, device=CPU
        )
    message = str(info.value)
    assert "train.lr: 0.01 -> 0.02" in message
    assert f"To start fresh delete {tmp_path / LAST}" in message
    assert info.value.exit_code == 2


def test_ema_follows_decay_times_old_plus_one_minus_decay_times_new() -> None:
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight.fill_(1.0)
    ema = EMA(module, 0.9, warmup=False)
    ema.update(module)  # the first update copies
    assert torch.allclose(ema.module.weight, torch.ones(1, 2))
    with torch.no_grad():
        module.weight.fill_(3.0)
    ema.update(module)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))
    ema.update(module)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 0.9 * 1.2 + 0.1 * 3.0))
    with pytest.raises(ValueError, match="0 disables EMA"):
        EMA(module, 1.0)


def test_ema_warmup_grows_the_decay_with_the_update_count() -> None:
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight.fill_(1.0)
    ema = EMA(module, 0.999)
    ema.update(module)
    with torch.no_grad():
        module.weight.fill_(3.0)
    ema.update(module)  # one update done: d = min(0.999, 2 / 11)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 2 / 11 * 1.0 + 9 / 11 * 3.0))
    ema.updates = 10_000
    assert ema.current_decay() == 0.999
    restored = EMA(module, 0.999)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 10_000 and torch.equal(restored.module.weight, ema.module.weight)


def test_ema_disabled_is_announced_with_its_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = train(
        _model(),
        toy_images(),
        None,
        _config(steps=2, ema_decay=0.0),
        fields=FIELDS,
        run_dir=tmp_path,
        log_dir=None,
        device=CPU,
    )
    assert "EMA disabled <train.ema_decay=0>" in capsys.readouterr().out
    assert result.ema is False and read_checkpoint(tmp_path / EMA_FILE)["ema"] is False


def test_regularisation_knobs_change_the_weights_as_they_should() -> None:
    images = toy_images()
    plain, decayed, clipped = _model(), _model(weight_decay=5.0), _model()
    train(plain, images, None, _config(steps=5), fields=FIELDS, run_dir=None, log_dir=None, device=CPU)
    train(decayed, images, None, _config(steps=5, l1=0.01), fields=FIELDS, run_dir=None, log_dir=None, device=CPU)
    result = train(
        clipped, images, None, _config(steps=5, grad_clip=1e-3), fields=FIELDS, run_dir=None, log_dir=None, device=CPU
    )
    assert decayed.decoder.weight.abs().sum() < plain.decoder.weight.abs().sum()
    assert result.values["dec/grad_norm"] > 1e-3  # the logged norm is the one before clipping


def test_data_order_is_a_pure_function_of_seed_and_step() -> None:
    order, again = BatchOrder(10, 4, seed=3), BatchOrder(10, 4, seed=3)
    first_epochs = torch.cat([order.indices(s) for s in range(5)])  # 20 draws = two full epochs
    assert sorted(first_epochs[:10].tolist()) == list(range(10))
    assert sorted(first_epochs[10:].tolist()) == list(range(10))
    assert torch.equal(again.indices(4), order.indices(4))  # no state: step 4 first, same answer
    assert not torch.equal(BatchOrder(10, 4, seed=4).indices(0), order.indices(0))


def test_cuda_requested_without_cuda_is_a_config_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"train.device='cuda' but this machine has no CUDA device.*auto or cpu"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_steps_on_cuda_train_and_checkpoint(tmp_path: Path) -> None:
    model = _model()
    result = train(
        model,
        toy_images(),
        None,
        _config(steps=4, bf16=True),
        fields=FIELDS,
        run_dir=tmp_path,
        log_dir=tmp_path / "log",
        device=torch.device("cuda"),
    )
    assert result.final_step == 4 and torch.isfinite(torch.tensor(result.values["enc/loss"]))
    assert read_checkpoint(tmp_path / LAST)["model"]["decoder.weight"].device.type == "cpu"
