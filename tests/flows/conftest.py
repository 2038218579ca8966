"""Fixtures for the flow tests: one Prefect test server per session, and a throwaway DVC repo.

The Prefect server start is the expensive part (10-30 s on 2 cores), so it is a
session fixture that only the tests which really run a flow request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flows  # noqa: F401  (Prefect telemetry off before anything imports prefect)
from tests.flows.toyrepo import make_toy_repo


@pytest.fixture
def toy_repo(tmp_path: Path) -> Path:
    return make_toy_repo(tmp_path / "toy")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server (SQLite in tmp) shared by every flow test of the session."""
    # Deferred: at the top, isort would put prefect above `import flows`, which must come first (see there).
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):  # 30 s default is too short on 2 busy cores
        yield
