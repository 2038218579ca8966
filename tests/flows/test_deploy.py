"""flows/deploy.py and prefect.yaml: the scheduled deployment, built without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from flows.deploy import DEFAULT_CRON, DEFAULT_NAME, build_deployment, check_cron
from genqc.cli import main as cli_main
from genqc.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_deployment_carries_its_cron_schedule_and_parameters() -> None:
    deployment = build_deployment(name="nightly-test", cron="30 2 * * 1", parameters={"stages": ["validate"]})
    assert deployment.name == "nightly-test"
    assert deployment.flow_name == "genqc-pipeline"
    assert [s.schedule.cron for s in deployment.schedules] == ["30 2 * * 1"]
    assert deployment.parameters == {"stages": ["validate"]}
    assert deployment.entrypoint.endswith("pipeline.py:genqc_pipeline")
    assert deployment.concurrency_limit == 1  # a second scheduled run waits for the first


@pytest.mark.parametrize("cron", ["61 3 * * *", "every night", "0 3 * *", "H 3 * * *"])
def test_bad_cron_is_a_config_error_naming_the_flag(cron: str) -> None:
    with pytest.raises(ConfigError, match=r"--cron .* is not a 5-field cron expression"):
        check_cron(cron)


def test_genqc_serve_rejects_a_bad_cron_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", "--cron", "61 3 * * *"]) == 2
    assert "genqc serve: error: --cron '61 3 * * *'" in capsys.readouterr().err


def test_prefect_yaml_declares_the_same_deployment() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (deployment,) = config["deployments"]
    assert deployment["name"] == DEFAULT_NAME
    assert [s["cron"] for s in deployment["schedules"]] == [DEFAULT_CRON]
    path, _, name = deployment["entrypoint"].partition(":")
    assert load_flow_from_entrypoint(str(REPO / path) + ":" + name).name == "genqc-pipeline"
    assert deployment["work_pool"]["name"]
    assert deployment["concurrency_limit"] == 1
