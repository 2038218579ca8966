"""params.yaml validation: the real file is valid; every kind of mistake names its key."""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from genqc.config import OPTIONAL_KEYS, SECTIONS, Params, load_params, parse_params
from genqc.errors import ConfigError
from genqc.models.configs import (
    FAMILY_CONFIGS,
    OPTIMIZER_FIELDS,
    SHAPE_FIELDS,
    ClassifierConfig,
    ClassifierTraining,
    DCGANConfig,
    DDPMConfig,
    VAEConfig,
)
from genqc.training.config import TrainConfig
from tests.conftest import REPO, real_params, run_genqc


def test_the_repository_params_file_is_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.ingest.source == "builtin:mnist5k"


def test_params_yaml_documents_every_section_the_code_knows() -> None:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(data) == {f.alias or name for name, f in Params.model_fields.items()}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"seed": -1}, "seed=-1: Input should be greater than or equal to 0"),
        ({"seed": "one"}, "seed='one': Input should be a valid integer"),
        ({"ingest": {"image_size": 2}}, "ingest.image_size=2: Input should be greater than or equal to 4"),
        ({"ingest": {"resize": "zoom"}}, "ingest.resize='zoom': Input should be 'stretch', 'crop' or 'pad'"),
        ({"ingets": {}}, "unknown key 'ingets'; allowed here: augment, classifier"),
        ([1, 2], "params must be a mapping of sections"),
    ],
)
def test_each_mistake_is_one_line_naming_key_value_and_allowed(data, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_params(data, "params.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("params.yaml: ")


def test_invalid_yaml_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("ingest: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)


# --------------------------------------------------------------------------- one declaration per setting
#: each derived section, the library dataclasses it comes from and the fields params leave to the code
DERIVED = [
    (("train",), TrainConfig, ("seed",)),
    (("train", "dcgan"), DCGANConfig, SHAPE_FIELDS),
    (("train", "vae"), VAEConfig, SHAPE_FIELDS),
    (("train", "ddpm"), DDPMConfig, SHAPE_FIELDS),
    (("classifier",), ClassifierConfig, SHAPE_FIELDS),
    (("classifier",), ClassifierTraining, ()),
]


def _section(path: tuple[str, ...]) -> type:
    model: type = Params
    for part in path:
        model = model.model_fields[part].annotation
    return model


@pytest.mark.parametrize(("path", "source", "exclude"), DERIVED, ids=lambda v: getattr(v, "__name__", v))
def test_each_derived_section_has_its_dataclass_fields_types_ranges_and_defaults(path, source, exclude) -> None:
    section = _section(path)
    hints = typing.get_type_hints(source, include_extras=True)
    for item in dataclasses.fields(source):
        if item.name in exclude:
            assert item.name not in section.model_fields, f"{'.'.join(path)}.{item.name} is filled by the code"
            continue
        field = section.model_fields[item.name]
        assert field.default == item.default, (path, item.name)
        declared = hints[item.name]
        base, metadata = (
            (declared.__origin__, list(declared.__metadata__))
            if typing.get_origin(declared) is (typing.Annotated)
            else (declared, [])
        )
        assert field.annotation == base, (path, item.name)
        assert metadata == [m for m in field.metadata if type(m).__module__ == "annotated_types"], (path, item.name)


def test_every_family_section_and_the_loop_take_exactly_what_the_code_declares() -> None:
    train = set(Params.model_fields["train"].annotation.model_fields)
    declared = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed"}
    assert declared <= train and set(FAMILY_CONFIGS) <= train
    assert train - declared - set(FAMILY_CONFIGS) == {"model", "models", "device", "conditional", "nproc", "resume"}
    for config in FAMILY_CONFIGS.values():  # each family declares its own optimiser: no shared lr or betas
        assert set(OPTIMIZER_FIELDS) <= {f.name for f in dataclasses.fields(config)}


@pytest.mark.parametrize("section", ["train", "classifier"])
def test_params_yaml_documents_every_key_of_the_derived_sections(section: str) -> None:
    data = real_params()[section]
    model = Params.model_fields[section].annotation
    assert set(data) == set(model.model_fields)
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            assert set(data[name]) == set(field.annotation.model_fields), f"{section}.{name}"


def test_the_stage_builds_the_loop_config_from_params_with_the_top_level_seed() -> None:
    params = parse_params({**real_params(), "seed": 7})
    config = params.train.build(TrainConfig, seed=params.seed)
    assert config == TrainConfig(
        **{**params.train.model_dump(include=set(TrainConfig.__dataclass_fields__)), "seed": 7}
    )


def test_a_dataclass_check_runs_when_params_load() -> None:
    with pytest.raises(ConfigError) as info:
        parse_params({"train": {"dcgan": {"diffaugment": "translation,blur"}}}, "params.yaml")
    assert str(info.value) == (
        "params.yaml: train.dcgan.diffaugment='translation,blur': unknown op(s) blur; "
        "allowed: translation, cutout, color (comma-separated) or '' to disable"
    )


def test_an_old_shared_optimiser_key_says_where_it_moved() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'train.lr': it moved to train.<family>.lr"):
        parse_params({"train": {"lr": 0.001}}, "params.yaml")


# --------------------------------------------------------------------------- hostile params (issue 17)
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"seed": True}, "seed=True: Input should be a valid integer"),
        ({"seed": 1.5}, "seed=1.5: Input should be a valid integer"),
        ({"train": {"compile": 1}}, "train.compile=1: Input should be a valid boolean"),
        ({"train": {"steps": "10"}}, "train.steps='10': Input should be a valid integer"),
        ({"train": {"dcgan": {"betas": [0.5]}}}, "train.dcgan.betas.1: Field required"),
        ({"train": {"dcgan": {"betas": [0.5, 1.5]}}}, "train.dcgan.betas.1=1.5: Input should be less than 1"),
        ({"train": {"vae": {"lr": math.nan}}}, "train.vae.lr=nan: must be a finite number (not NaN or infinity)"),
        ({"classifier": {"weight_decay": math.inf}}, "classifier.weight_decay=inf: must be a finite number"),
        ({"validate": {"class_weights": {0: math.nan, 1: 1.0}}}, "validate.class_weights.0=nan: must be a finite"),
        ({"sample": {"filter": {"max_draws": -math.inf}}}, "sample.filter.max_draws=-inf: must be a finite number"),
        ({"sample": {"latent_scale": {"dcgan": 0}}}, "sample.latent_scale.dcgan=0: Input should be greater than 0"),
        ({"sample": {"latent_scale": {"dcgan": math.nan}}}, "sample.latent_scale.dcgan=nan: must be a finite"),
        ({"sample": {"latent_scale": {"gan": 1.2}}}, "sample.latent_scale.gan.[key]='gan': Input should be 'dcgan'"),
        ({"sample": {"latent_scale": {"ddpm": 1.2}}}, "sample.latent_scale lists ddpm: no latent code to scale"),
    ],
)
def test_strict_types_and_finite_numbers(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_params(data, "params.yaml")
    assert str(info.value).startswith(f"params.yaml: {expected}")
    assert "\n" not in str(info.value)


def test_a_yaml_list_still_gives_a_tuple_setting() -> None:
    assert parse_params({"train": {"dcgan": {"betas": [0.6, 0.99]}}}).train.dcgan.betas == (0.6, 0.99)


def test_duplicate_keys_are_refused_with_their_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("seed: 0\ntrain:\n  steps: 5\n  vae:\n    lr: 0.1\n    lr: 0.2\n  steps: 6\n")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == (
        f"{path}: duplicate key train.vae.lr (line 6), train.steps (line 7); YAML would keep "
        "only the last, so give each key once"
    )


def test_an_empty_file_and_a_missing_section_are_refused_naming_the_sections(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("# nothing here\n")
    with pytest.raises(ConfigError, match=r"p.yaml is empty; it needs the sections seed, ingest, validate"):
        load_params(path)
    data = real_params()
    del data["train"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"p.yaml: missing section\(s\) train; every stage needs all of seed, "):
        load_params(path, required=SECTIONS)
    assert load_params(path).train == parse_params({}).train  # only the stages insist: a flow reads what it needs
    assert set(SECTIONS) == set(data) - set(OPTIONAL_KEYS) | {"train"}


BAD_FILES = {
    "empty": ("", "is empty; it needs the sections"),
    "no-train": ("drop:train", "missing section(s) train"),
    "duplicate": ("seed: 0\nseed: 1\n", "duplicate key seed (line 2)"),
    "bool-seed": ("set:seed=true", "seed=True: Input should be a valid integer"),
    "nan-lr": ("set:train.dcgan.lr=.nan", "train.dcgan.lr=nan: must be a finite number"),
    "old-lr": ("set:train.lr=.nan", "unknown key 'train.lr': it moved to train.<family>.lr"),
    "nan-weights": ("set:validate.class_weights={0: .nan, 1: .nan}", "validate.class_weights.0=nan: must be finite"),
}


def _bad_params_text(recipe: str) -> str:
    """The repository's params.yaml broken as ``recipe`` says: raw text, ``drop:SECTION`` or ``set:KEY=YAML``."""
    if not recipe.startswith(("drop:", "set:")):
        return recipe
    data = real_params()
    if recipe.startswith("drop:"):
        del data[recipe.removeprefix("drop:")]
        return yaml.safe_dump(data)
    key, value = recipe.removeprefix("set:").split("=", 1)
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = yaml.safe_load(value)
    return yaml.safe_dump(data)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_params_files_exit_2_with_one_line_through_the_cli(case: str, tmp_path: Path) -> None:
    recipe, expected = BAD_FILES[case]
    (tmp_path / "bad.yaml").write_text(_bad_params_text(recipe))
    stage = "ingest" if case in ("empty", "duplicate") else "train"
    done = run_genqc(stage, "--params", "bad.yaml", cwd=tmp_path, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and lines[0].startswith(f"genqc {stage}: error: bad.yaml"), done.stderr
    assert all(line.startswith("bad.yaml: ") for line in lines[1:]), done.stderr  # one line per problem
    assert len(lines) == (2 if case == "nan-weights" else 1), done.stderr
    assert expected.replace("must be finite", "must be a finite") in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # nothing ran, nothing was written


def test_every_evaluate_knob_of_the_params_is_a_keyword_of_genqc_evaluate() -> None:
    # the stage and bench/gates.py pass EvaluateParams.evaluate_options() straight into genqc.evaluate
    from genqc.config import EvaluateParams
    from genqc.evaluation.evaluator import evaluate

    keywords = {n for n, p in inspect.signature(evaluate).parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert set(EvaluateParams.EVALUATE_KNOBS) <= keywords
    assert set(EvaluateParams().evaluate_options()) == set(EvaluateParams.EVALUATE_KNOBS)


def test_an_unquoted_off_severity_means_off(tmp_path: Path) -> None:
    # YAML 1.1 reads `off` as false; `dvc exp run -S validate.severity.label_kl=off` writes it unquoted
    text = (REPO / "params.yaml").read_text().replace("    label_kl: error ", "    label_kl: off ")
    assert "label_kl: off" in text
    (tmp_path / "params.yaml").write_text(text)
    assert load_params(tmp_path / "params.yaml").validate_.severity.label_kl == "off"


def test_params_as_dvc_writes_them_load(tmp_path: Path) -> None:
    # `dvc exp run -S train.l1=0.00001` writes 1e-05, which YAML 1.1 reads as a string; YAML 1.2 numbers here
    text = (REPO / "params.yaml").read_text().replace("  l1: 0.0 ", "  l1: 1e-05 ").replace("lr: 0.001 ", "lr: 1E-3  ")
    assert "l1: 1e-05" in text
    (tmp_path / "params.yaml").write_text(text)
    params = load_params(tmp_path / "params.yaml")
    assert params.train.l1 == 1e-05 and params.train.dcgan.lr == 1e-3
