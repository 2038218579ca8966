"""Prefect flows that run the DVC stages; they add retries and visibility, no logic.

Importing this package turns Prefect's anonymous telemetry off (and gives its
temporary server time to start) unless the user has chosen otherwise: the
machines genqc runs on often have no internet, and a flow must never wait on,
or leak to, the network. It has to happen here, before
``prefect`` is first imported, because Prefect reads its settings at import.
"""

import logging
import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Without PREFECT_API_URL every run starts a temporary server; its first start migrates a fresh
# database, which takes longer than Prefect's 20 s default on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

# After the settings above, on purpose: Prefect reads them when it is imported.
from prefect import get_run_logger
from prefect.exceptions import MissingContextError


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a run; a plain logger when a task body is called via ``.fn()``."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("genqc.flows")
