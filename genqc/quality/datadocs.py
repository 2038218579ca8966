"""Data Docs that agree with the gate and open offline.

GX renders a validation as "Succeeded" or "Failed" from its ``success`` flag, which
is False as soon as any expectation fails, warnings included. The gate fails only on
critical (error-level) failures, so these renderers read GX's native severity
(``ExpectationSuiteValidationResult.get_max_severity_failure``) and say "Passed with
warnings" when only warnings failed: the page header, the index's status column and its
filter text all agree with genqc's stdout and summary.json. The genqc Data Docs site in
gx/great_expectations.yml names these classes (module ``genqc.quality.datadocs``).

GX's page templates load jquery, bootstrap, bootstrap-table, vega and font-awesome from
public CDNs; offline (these machines, many CI runners) the index then shows an empty
table. ``make_offline`` copies the same files, vendored in ``datadocs_assets/``
(licences in its LICENSES.md), into the site and points every page at them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.render.renderer import SiteIndexPageRenderer, ValidationResultsPageRenderer
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder

from genqc.io import atomic_path

PASSED, WARNINGS, FAILED = "passed", "passed with warnings", "failed"
ASSETS = Path(__file__).with_name("datadocs_assets")
VENDOR = ("static", "vendor")  # where the assets land inside the site

# Every CDN reference in GX's templates -> the vendored file serving it ("" drops the tag: dark-mode styling only).
# A table kept as written (fmt: skip): one URL per row, a URL too long for the line puts its file on the next.
CDN_FILES = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "css/bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "css/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "css/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "css/bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "",
    "https://cdn.jsdelivr.net/npm/vega@5": "js/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "js/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "js/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "js/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "js/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "js/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "js/bootstrap-datepicker.min.js",
}  # fmt: skip
LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"  # GX's navbar logo: its own static copy
_TAG = re.compile(r"<(script|link)\b[^>]*?(?:src|href)=\"(https://[^\"]+)\"[^>]*>(?:\s*</script>)?")
_INTEGRITY = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')


def status_of(validation: Any) -> str:
    """passed, passed with warnings (only non-critical expectations failed) or failed."""
    if validation.success:
        return PASSED
    return FAILED if validation.get_max_severity_failure() in (FailureSeverity.CRITICAL, None) else WARNINGS


class SeverityValidationResultsPageRenderer(ValidationResultsPageRenderer):
    """GX's validation page, with a header status that follows native severity and the data asset named."""

    @classmethod
    def _render_validation_header(cls, validation_results: Any) -> Any:
        header = super()._render_validation_header(validation_results)
        params = header.subheader.string_template["params"]
        status = status_of(validation_results)
        params["data_asset_name"] = params.get("data_asset_name") or validation_results.asset_name
        if status == WARNINGS:
            params["success"] = "Passed with warnings"
            params["html_success_icon"] = '<i class="fas fa-exclamation-triangle text-warning" aria-hidden="true"></i>'
        return header


class SeverityIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, marking a validation whose failures are all warnings as such."""

    def add_resource_info_to_index_links_dict(
        self, index_links_dict: Any, expectation_suite_name: str, section_name: str, **kwargs: Any
    ) -> Any:
        if section_name == "validations" and kwargs.get("validation_success") is False and kwargs.get("run_id"):
            validation = self.data_context.get_validation_result(
                batch_identifier=kwargs.get("batch_identifier"),
                expectation_suite_name=expectation_suite_name,
                run_id=kwargs["run_id"],
                validation_results_store_name=self.source_stores.get("validations"),
            )
            if validation and status_of(validation) == WARNINGS:
                kwargs["validation_success"] = WARNINGS
        return super().add_resource_info_to_index_links_dict(
            index_links_dict, expectation_suite_name, section_name, **kwargs
        )


class SeverityIndexPageRenderer(SiteIndexPageRenderer):
    """GX's index page: a warning icon and "Passed with warnings" where only warnings failed."""

    @classmethod
    def _render_validation_success_cell(cls, validation_success: Any) -> Any:
        cell = super()._render_validation_success_cell(validation_success)
        if validation_success == WARNINGS:
            cell.string_template["styling"]["params"]["validation_success"]["classes"] = [
                "fas",
                "fa-exclamation-triangle",
                "text-warning",
                "ge-warning-icon",
            ]
        return cell

    @classmethod
    def _generate_validation_results_link_table(cls, index_links_dict: Any) -> Any:
        table = super()._generate_validation_results_link_table(index_links_dict)
        links = index_links_dict.get("validations_links", [])
        for row, link in zip(table.table_data, links, strict=True):
            success = link.get("validation_success")
            row["_validation_success_text"] = (
                "Passed with warnings" if success == WARNINGS else "Success" if success else "Failed"
            )
        return table


def _relative(page: Path, site: Path) -> str:
    up = os.path.relpath(site, page.parent)
    return "" if up == "." else up.replace(os.sep, "/") + "/"


def _localise(text: str, page: Path, prefix: str) -> str:
    """``text`` with every CDN tag pointing at the vendored copy ``prefix`` leads to."""

    def local(match: re.Match) -> str:
        tag, url = match.group(1), match.group(2)
        if url not in CDN_FILES:
            raise ValueError(
                f"{page}: Data Docs reference {url}, which genqc does not vendor; "
                f"add it to genqc/quality/datadocs.py CDN_FILES"
            )
        if not CDN_FILES[url]:
            return ""
        path = prefix + "/".join(VENDOR) + "/" + CDN_FILES[url]
        return f'<script src="{path}"></script>' if tag == "script" else f'<link rel="stylesheet" href="{path}">'

    return _INTEGRITY.sub("", _TAG.sub(local, text).replace(LOGO, prefix + "static/images/"))


def make_offline(site: Path) -> int:
    """Copy the vendored assets into ``site`` and point every page's CDN tags at them; returns pages rewritten.

    Tags are rewritten to plain relative URLs without ``integrity``/``crossorigin``
    (a file:// page may not load a script marked cross-origin). Raises ValueError if a
    page still references an unknown CDN asset, so a GX upgrade that adds one is caught.
    """
    site = Path(site)
    vendor = site.joinpath(*VENDOR)
    shutil.rmtree(vendor, ignore_errors=True)
    shutil.copytree(ASSETS, vendor, ignore=shutil.ignore_patterns("*.md"))
    rewritten = 0
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = _localise(text, page, _relative(page, site))
        if new != text:
            with atomic_path(page) as tmp:
                tmp.write_text(new, encoding="utf-8")
            rewritten += 1
    return rewritten
