"""Checkpoints: the same state gives the same bytes, and a refused file is one line naming it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from genqc.errors import DataError
from genqc.models.classifier import Classifier, ClassifierConfig
from genqc.training.checkpoint import (
    EMA_FILE,
    LAST,
    load_checkpoint,
    load_classifier,
    read_checkpoint,
    save_classifier,
    save_training_state,
)
from genqc.training.loop import TrainConfig, train
from tests.conftest import run_genqc
from tests.training.toy import ToyConfig, ToyModel, register_toy, toy_images

CPU = torch.device("cpu")
FIELDS = {"train.model": "toy", "seed": 0}
CONFIG = TrainConfig(steps=3, batch_size=8, ema_decay=0.9, checkpoint_every=2, image_every=100, log_every=100)
MARKER = "pickle-ran.txt"


class _Payload:
    """Writes MARKER into the working directory when unpickled: proof that a pickle would have run."""

    def __reduce__(self):
        return (Path.write_text, (Path(MARKER), "ran"))


def _trained(run_dir: Path) -> ToyModel:
    torch.manual_seed(0)
    model = ToyModel(ToyConfig())
    train(model, toy_images(), None, CONFIG, fields=FIELDS, run_dir=run_dir, log_dir=None, device=CPU)
    return model


def test_the_same_weights_give_the_same_bytes(tmp_path: Path) -> None:
    """A retrain with the same settings writes identical files, so DVC skips every stage downstream."""
    _trained(tmp_path / "a")
    _trained(tmp_path / "b")
    for name in (LAST, EMA_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    state = read_checkpoint(tmp_path / "a" / LAST)
    model = ToyModel(ToyConfig())
    model.load_state_dict(state["model"])
    optimizers = {name: torch.optim.AdamW(params) for name, params in model.groups().items()}
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    for path in (tmp_path / "again-1.pt", tmp_path / "again-2.pt"):  # other file names, same state
        save_training_state(
            path,
            model=model,
            optimizers=optimizers,
            ema_state=state["ema"],
            step=state["step"],
            family="toy",
            config=state["config"],
            fields=FIELDS,
        )
    assert (tmp_path / "again-1.pt").read_bytes() == (tmp_path / "again-2.pt").read_bytes()


def test_the_classifier_file_is_byte_reproducible_too(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(num_classes=3, image_size=8, width=4))
    save_classifier(tmp_path / "one.pt", model, metrics={"test_accuracy": 0.5})
    save_classifier(tmp_path / "two.pt", model, metrics={"test_accuracy": 0.5})
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "two.pt").read_bytes()


def _write_bad(kind: str, path: Path, good: Path) -> str:
    """A checkpoint the loaders must refuse; returns the words the one-line refusal must contain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "text":
        path.write_text("not a checkpoint\n")
        return "cannot be read"
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[:200])
        return "cannot be read"
    if kind == "pickle":
        path.write_bytes(pickle.dumps({"format": 1, "family": "toy", "payload": _Payload()}))
        return "pickled objects that weights-only loading refuses"
    if kind == "torch-pickle":
        torch.save({"format": 1, "family": "toy", "payload": _Payload()}, path)
        return "pickled objects that weights-only loading refuses"
    if kind == "tensor":
        torch.save(torch.zeros(3), path)
        return "is not a genqc checkpoint"
    if kind == "classifier":
        save_classifier(path, Classifier(ClassifierConfig(num_classes=3, image_size=8, width=4)), metrics={})
        return "holds a classifier checkpoint of 'classifier', not a generative model's"
    if kind == "foreign-config":
        state = read_checkpoint(good)
        torch.save({**state, "config": {**state["config"], "widht": 8}}, path)
        return "does not rebuild a toy model (ValueError: unknown toy config field(s) widht"
    raise AssertionError(kind)


KINDS = ["text", "truncated", "pickle", "torch-pickle", "tensor", "classifier", "foreign-config"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_checkpoint_is_one_line_naming_the_file(kind: str, tmp_path: Path, monkeypatch) -> None:
    register_toy()
    monkeypatch.chdir(tmp_path)
    _trained(tmp_path / "run")
    bad = tmp_path / "bad" / "ema.pt"
    words = _write_bad(kind, bad, tmp_path / "run" / LAST)
    with pytest.raises(DataError) as info:
        load_checkpoint(bad)
    message = str(info.value)
    assert words in message and str(bad) in message and "\n" not in message, message
    assert not (tmp_path / MARKER).exists()


def test_a_generative_checkpoint_is_not_taken_for_the_classifier(tmp_path: Path) -> None:
    register_toy()
    _trained(tmp_path)
    with pytest.raises(DataError, match=r"is a training checkpoint, not the classifier"):
        load_classifier(tmp_path / LAST)


@pytest.mark.parametrize("kind", ["torch-pickle", "classifier", "truncated"])
def test_the_sample_stage_refuses_a_bad_checkpoint_in_one_line(kind: str, tiny_workdir: Path) -> None:
    good = tiny_workdir / "good" / LAST
    _trained(good.parent)
    words = _write_bad(kind, tiny_workdir / "data" / "train" / "dcgan" / EMA_FILE, good)
    done = run_genqc("sample", "--model", "dcgan", cwd=tiny_workdir, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("genqc sample: error: ") and words in done.stderr
    assert not (tiny_workdir / MARKER).exists()
