"""The file-backed Great Expectations project: the saved suite, its Checkpoint, bounded history, offline Data Docs.

A GX user opens it with GX's own API (``import genqc.quality.expectations`` first,
which registers genqc's Expectation classes)::

    context = gx.get_context(mode="file", project_root_dir=".")
    suite = context.suites.get("genqc")
    context.checkpoints.get("genqc").run(batch_parameters={"dataframe": frame})

genqc rebuilds the suite from the rules on every run (saving it only when it changed),
keeps the Checkpoint's user-added actions (that is where notification actions such as
``SlackNotificationAction`` go), keeps the newest ``history`` runs of validation
results, and rebuilds the Data Docs site from them into a fresh folder, made to open
offline, swapped in at the end. Imports great_expectations: import this lazily.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # read when GX is imported: never send usage statistics

import great_expectations as gx
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.row_conditions import Column

from genqc.errors import ConfigError
from genqc.quality import expectations as custom
from genqc.quality.datadocs import make_offline
from genqc.quality.suite import Check

NAME = "genqc"  # the suite, validation definition, checkpoint, data source and Data Docs site
ASSET = "image_tables"  # the stacked train + test tables
DOCS_ACTION = "update_data_docs"
SEVERITY = {"error": "critical", "warning": "warning"}  # genqc severity -> GX 1.x native severity


def site_config(base_directory: str) -> dict[str, Any]:
    """The genqc Data Docs site: GX's SiteBuilder with genqc's severity-aware renderers."""
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": base_directory},
        "site_index_builder": {
            "class_name": "SeverityIndexBuilder",
            "module_name": "genqc.quality.datadocs",
            "renderer": {"class_name": "SeverityIndexPageRenderer", "module_name": "genqc.quality.datadocs"},
        },
        "site_section_builders": {
            "validations": {
                "renderer": {
                    "class_name": "SeverityValidationResultsPageRenderer",
                    "module_name": "genqc.quality.datadocs",
                }
            }
        },
    }


def open_project(root: Path, docs_dir: Path) -> Any:
    """The file context in ``root/gx``; created with genqc's Data Docs site (into ``docs_dir``) when missing."""
    root = Path(root)
    created = not (root / "gx" / "great_expectations.yml").is_file()
    context = gx.get_context(mode="file", project_root_dir=str(root))
    if created:
        relative = os.path.relpath(Path(docs_dir).resolve(), (root / "gx").resolve())
        context.variables.data_docs_sites = {NAME: site_config(relative.replace(os.sep, "/") + "/")}
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.analytics_enabled = False
        context.variables.save()
        shutil.rmtree(root / "gx" / "uncommitted" / "data_docs", ignore_errors=True)
    return context


def docs_dir(context: Any) -> Path:
    """Where the project's genqc Data Docs site lives (its base_directory, relative to gx/)."""
    site = context.variables.data_docs_sites.get(NAME)
    if not site:
        raise ConfigError(
            f"{context.root_directory}/great_expectations.yml has no data_docs_sites.{NAME}; "
            f"restore it from git or delete the file to let genqc recreate it"
        )
    return (Path(context.root_directory) / site["store_backend"]["base_directory"]).resolve()


def _comparable(suite: Any) -> list[dict]:
    return sorted((e.configuration.to_json_dict() | {"id": None} for e in suite.expectations), key=repr)


def row_condition(check: Check) -> dict[str, Any]:
    """GX 1.x's Condition objects for a check's scope: every (column, value) pair must hold."""
    if not check.scope:
        return {}
    condition = None
    for column, value in check.scope:
        term = Column(name=column) == value
        condition = term if condition is None else condition & term
    return {"row_condition": condition}


def save_suite(context: Any, checks: list[Check]) -> Any:
    """The suite built from the checks; saved only when it differs from the stored one (stable files in git)."""
    # Built under a scratch name: GX writes add_expectation straight through to a stored suite of the same name.
    suite = gx.ExpectationSuite(name=f"{NAME}-candidate", meta={"generated_by": "genqc from params.yaml's validate"})
    for check in checks:
        expectation_type = getattr(gx.expectations, check.expectation, None) or custom.CUSTOM[check.expectation]
        meta = {"genqc_check": check.name, "allowed": check.allowed}
        kwargs = {**check.kwargs, **row_condition(check), "severity": SEVERITY[check.severity], "meta": meta}
        suite.add_expectation(expectation_type(**kwargs))
    try:
        stored = context.suites.get(NAME)
    except Exception:  # GX raises its own not-found types; any failure to read means "write a fresh one"
        stored = None
    if stored is not None and _comparable(stored) == _comparable(suite):
        return stored
    suite.name = NAME
    return context.suites.add_or_update(suite) if stored is not None else context.suites.add(suite)


def checkpoint(context: Any, suite: Any) -> Any:
    """The genqc Checkpoint: its validation definition and the UpdateDataDocs action, keeping any other actions."""
    try:
        source = context.data_sources.get(NAME)
    except Exception:  # not there yet
        source = context.data_sources.add_pandas(NAME)
    # get_asset/get_batch_definition (not .assets) return objects wired to the context, so batches can be built.
    asset = source.get_asset(ASSET) if ASSET in source.get_asset_names() else source.add_dataframe_asset(ASSET)
    try:
        batch = asset.get_batch_definition(ASSET)
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe(ASSET)
    # Created once, then left alone: GX's add_or_update would re-save the suite with fresh expectation ids (git churn)
    # and would drop the actions a user added to the Checkpoint.
    try:
        definition = context.validation_definitions.get(NAME)
    except Exception:  # first run
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=NAME, data=batch, suite=suite))
    docs_action = UpdateDataDocsAction(name=DOCS_ACTION, site_names=[NAME])
    try:
        point = context.checkpoints.get(NAME)
    except Exception:  # first run
        return context.checkpoints.add(
            gx.Checkpoint(
                name=NAME, validation_definitions=[definition], actions=[docs_action], result_format="SUMMARY"
            )
        )
    if not any(a.name == DOCS_ACTION for a in point.actions):
        point.actions.insert(0, docs_action)
        point.save()
    return point


def prune_history(context: Any, keep: int) -> int:
    """Delete validation results of all but the newest ``keep`` runs; returns how many results were removed."""
    store = context.validation_results_store
    keys = store.list_keys()
    runs = sorted({k.run_id.run_time for k in keys}, reverse=True)[:keep]
    removed = [k for k in keys if k.run_id.run_time not in runs]
    for key in removed:
        store.remove_key(key)
    base = Path(context.root_directory) / "uncommitted" / "validations"
    for directory in sorted((d for d in base.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    return len(removed)


def run(context: Any, checks: list[Check], frame: Any, *, run_name: str, history: int, docs_dir: Path) -> Any:
    """Save the suite, run the Checkpoint on ``frame``, bound the history, rebuild offline Data Docs atomically.

    Returns GX's ExpectationSuiteValidationResult of this run.
    """
    suite = save_suite(context, checks)
    point = checkpoint(context, suite)
    docs_dir = Path(docs_dir)
    building = docs_dir.with_name(f".{docs_dir.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    # In memory only (never saved): this run's docs go to a fresh folder, swapped in when complete.
    context.variables.data_docs_sites = {NAME: site_config(str(building.resolve()))}
    outcome = point.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    prune_history(context, history)
    context.build_data_docs(site_names=[NAME])
    make_offline(building)
    shutil.rmtree(docs_dir, ignore_errors=True)
    building.rename(docs_dir)
    return next(iter(outcome.run_results.values()))
