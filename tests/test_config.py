"""params.yaml validation: the real file is valid; every kind of mistake names its key."""

from __future__ import annotations

import pytest

from genqc.config import load_params, parse_params
from genqc.errors import ConfigError
from tests.conftest import REPO


def test_the_repository_params_file_is_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.ingest.source == "builtin:mnist5k"


def test_params_yaml_documents_every_section_the_code_knows() -> None:
    import yaml

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    from genqc.config import Params

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
