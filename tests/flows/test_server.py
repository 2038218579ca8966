"""The scheduled-deployment entry point as a user runs it: a real ``prefect server start`` and its scheduler.

One server per module, on a free loopback port with its own PREFECT_HOME (SQLite in
tmp), drives a tmp git + DVC copy of this repository with tiny params. Against it:
``prefect deploy --all`` and ``prefect deployment ls``; SCHEDULED runs created by the
server's own scheduler; a process worker and, separately, ``genqc serve`` picking a run
up that ends Completed with DVC stages really run; a failing stage failing its run with
the stage's one-line message. The server and every process started here are stopped
by PID. Everything talks to the server over its REST API or the ``prefect`` CLI, as a
user's tools would: these are the requests that answered 422 under fastapi 0.151 and
the scheduler that SQLAlchemy 2.1 broke (pyproject.toml's bounds).

Measured times are printed (``pytest -s``) and recorded in docs/orchestration.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TINY_OVERRIDES, _merge, copy_repo, real_params, write_params
from tests.flows.toyrepo import init_git_dvc

pytestmark = pytest.mark.slow

SERVER_START_TIMEOUT_S = 240  # a fresh database's migrations take tens of seconds on 2 busy cores
RUN_TIMEOUT_S = 420  # one flow run of ingest + validate (or augment) over tiny params, with slack
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
DEPLOYMENT = "genqc-pipeline/genqc-nightly"  # prefect.yaml's deployment (flow name / deployment name)


@dataclass
class Server:
    """A running server: its API URL, the environment every client process gets, and what it measured."""

    api: str
    env: dict[str, str]
    log: Path
    times: dict[str, float] = field(default_factory=dict)
    deployed_at: float = 0.0  # time.monotonic() when `prefect deploy --all` returned
    started: list[subprocess.Popen] = field(default_factory=list)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def env_in(self, cwd: Path) -> dict[str, str]:
        """The environment a shell in ``cwd`` would give (prefect.yaml's ``{{ $PWD }}`` reads PWD)."""
        return {**self.env, "PWD": str(cwd)}

    def cli(self, *args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", *args],
            cwd=cwd,
            env=self.env_in(cwd),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self, command: list[str], cwd: Path, log: Path) -> subprocess.Popen:
        """Start a long-running process in its own session (its children too), to be stopped by its PID."""
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=self.env_in(cwd),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def flow_runs(self, deployment_id: str, state: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"deployments": {"id": {"any_": [deployment_id]}}}
        if state:
            body["flow_runs"] = {"state": {"type": {"any_": [state]}}}
        return self.request("POST", "/flow_runs/filter", body)

    def wait_for_run(self, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.request("GET", f"/flow_runs/{run_id}")
            if run["state_type"] in TERMINAL:
                return run
            time.sleep(2)
        raise AssertionError(f"flow run {run_id} still {run['state_type']} after {timeout_s} s; see {self.log}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process's group (its PID leads it: start_new_session), then SIGKILL what remains."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # the group's other members (a flow-run subprocess) go too
        os.killpg(process.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = dict(os.environ)
    env.pop("GENQC_PROJECT", None)  # the project is found from each process's working directory, as for users
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "DVC_NO_ANALYTICS": "1",
            # the scheduler's loop: 60 s by default; 5 s here so its first pass comes soon after the deploy
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "OMP_NUM_THREADS": "1",
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    handle = Server(api=env["PREFECT_API_URL"], env=env, log=home / "server.log")
    start = time.monotonic()
    process = handle.spawn(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        cwd=home,
        log=handle.log,
    )
    try:
        while True:
            try:
                handle.request("GET", "/health")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert process.poll() is None, f"prefect server exited {process.returncode}: {handle.log.read_text()}"
                assert time.monotonic() - start < SERVER_START_TIMEOUT_S, f"no server after {SERVER_START_TIMEOUT_S} s"
                time.sleep(1)
        handle.times["server start"] = time.monotonic() - start
        yield handle
    finally:
        for started in reversed(handle.started):
            stop(started)
        assert all(p.poll() is not None for p in handle.started)
        print(
            f"\nmeasured (load average {load_average()}):", ", ".join(f"{k} {v:.1f} s" for k, v in handle.times.items())
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed git + DVC copy of this repository with tiny params (scikit-learn digits at 16 px, 2 steps)."""
    params = real_params()
    for section, override in TINY_OVERRIDES.items():
        params[section] = _merge(params.get(section, {}), override)
    repo = copy_repo(tmp_path_factory.mktemp("server") / "project")
    write_params(repo, params)
    return init_git_dvc(repo, dvc_init=False)


@pytest.fixture(scope="module")
def deployment(server: Server, project: Path) -> dict[str, Any]:
    """prefect.yaml's deployment, created the README's way: work pool, then ``prefect deploy --all``."""
    pool = server.cli("work-pool", "create", "genqc-process", "--type", "process", cwd=project)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    start = time.monotonic()
    deployed = server.cli("deploy", "--all", cwd=project)
    server.deployed_at = time.monotonic()
    server.times["deploy"] = server.deployed_at - start
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    return server.request("GET", f"/deployments/name/{DEPLOYMENT}")


def test_deploy_all_creates_the_deployment_that_deployment_ls_lists(
    server: Server, project: Path, deployment: dict[str, Any]
) -> None:
    listed = server.cli("deployment", "ls", cwd=project)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "genqc-nightly" in listed.stdout
    assert deployment["global_concurrency_limit"]["limit"] == 1  # prefect.yaml: concurrency_limit: 1
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]


def test_the_servers_scheduler_creates_scheduled_runs(server: Server, deployment: dict[str, Any]) -> None:
    while not (scheduled := server.flow_runs(deployment["id"], "SCHEDULED")):
        assert time.monotonic() - server.deployed_at < 120, f"no SCHEDULED run 120 s after deploy; see {server.log}"
        time.sleep(1)
    server.times["first scheduled run created, after deploy"] = time.monotonic() - server.deployed_at
    assert all(run["expected_start_time"][11:16] == "03:00" for run in scheduled)  # prefect.yaml's cron, UTC


def test_a_process_worker_runs_a_deployment_run_to_completion(
    server: Server, project: Path, deployment: dict[str, Any]
) -> None:
    server.spawn(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "genqc-process"],
        cwd=project,
        log=project.parent / "worker.log",
    )
    run = server.request(
        "POST", f"/deployments/{deployment['id']}/create_flow_run", {"parameters": {"stages": ["validate"]}}
    )
    start = time.monotonic()
    done = server.wait_for_run(run["id"])
    server.times["worker run (ingest + validate)"] = time.monotonic() - start
    assert done["state_type"] == "COMPLETED", (done["state"], (project.parent / "worker.log").read_text()[-3000:])
    lock = (project / "dvc.lock").read_text()
    assert "ingest:" in lock and "validate:" in lock  # DVC ran both stages and recorded them
    assert (project / "reports/validation/summary.json").is_file()
    artifacts = server.request("POST", "/artifacts/filter", {"artifacts": {"key": {"any_": ["genqc-validation"]}}})
    assert artifacts and artifacts[0]["flow_run_id"] == run["id"]


def test_genqc_serve_runs_its_own_scheduled_run(server: Server, project: Path, deployment: dict[str, Any]) -> None:
    log = project.parent / "serve.log"
    start = time.monotonic()
    server.spawn(
        [
            sys.executable,
            "-m",
            "genqc.cli",
            "serve",
            "--cron",
            "* * * * *",
            "--name",
            "genqc-every-minute",
            "--stages",
            "augment",
        ],
        cwd=project,
        log=log,
    )
    served = None
    while served is None:
        assert time.monotonic() - start < 180, f"genqc serve created no deployment; log:\n{log.read_text()[-3000:]}"
        try:
            served = server.request("GET", "/deployments/name/genqc-pipeline/genqc-every-minute")
        except urllib.error.HTTPError:
            time.sleep(2)
    while not (runs := [r for r in server.flow_runs(served["id"]) if r["state_type"] != "SCHEDULED"]):
        assert time.monotonic() - start < 240, f"no scheduled run started; log:\n{log.read_text()[-3000:]}"
        time.sleep(2)
    server.times["serve: first scheduled run started"] = time.monotonic() - start
    done = server.wait_for_run(runs[0]["id"])
    server.times["serve: run (augment)"] = time.monotonic() - start - server.times["serve: first scheduled run started"]
    assert done["state_type"] == "COMPLETED", (done["state"], log.read_text()[-3000:])
    assert done["auto_scheduled"] is True  # the server's scheduler made it from the cron, not a manual run
    assert "augment:" in (project / "dvc.lock").read_text()
    assert (project / "data/augment/train.parquet").is_file()


def test_a_failing_stage_fails_the_run_with_its_one_line_message(server: Server, deployment: dict[str, Any]) -> None:
    # last: an experiment that fails leaves the workspace's params.yaml with its override (DVC's behaviour)
    run = server.request(
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        {"parameters": {"stages": ["ingest"], "overrides": ["ingest.source=folder:/nonexistent/images"]}},
    )
    done = server.wait_for_run(run["id"])
    assert done["state_type"] == "FAILED"
    message = done["state"]["message"]
    assert "genqc ingest: error: ingest.source=folder:/nonexistent/images: directory not found" in message
    assert "exit code 2" in message
