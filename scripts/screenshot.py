"""Screenshot the dashboard and the dbt docs lineage graph with headless Chromium.

Usage (after `clickstream run` or `clickstream analyze` and `clickstream docs`):

    .venv/bin/python scripts/screenshot.py [--reports reports/] [--docs-img docs/img/]

Writes reports/screenshots/{dashboard,lineage}.png and, with --docs-img, copies them to
docs/img/ for the README.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from clickstream.config import PROJECT_ROOT
from clickstream.errors import ClickstreamError, EmptyInputError
from clickstream.reporting.browser import lineage_url, screenshot, serve_directory

logger = logging.getLogger("screenshot")


def take_screenshots(reports_dir: Path, docs_site: Path, docs_img: Path | None) -> list[Path]:
    """Dashboard from disk, lineage from a local HTTP server; optionally copy to docs/img."""
    dashboard = reports_dir / "dashboard.html"
    if not dashboard.is_file():
        raise EmptyInputError(f"No dashboard at {dashboard}: run 'clickstream analyze' first.")
    out = reports_dir / "screenshots"
    shots = [screenshot(dashboard.resolve().as_uri(), out / "dashboard.png", height=2200)]
    with serve_directory(docs_site) as base_url:
        shots.append(
            screenshot(
                lineage_url(base_url),
                out / "lineage.png",
                width=1600,
                height=1000,
                budget_ms=20_000,
            )
        )
    if docs_img is not None:
        docs_img.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, docs_img / shot.name)
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=PROJECT_ROOT / "reports")
    parser.add_argument("--docs-site", type=Path, default=PROJECT_ROOT / "dbt_project" / "target")
    parser.add_argument("--docs-img", type=Path, default=None, help="Also copy to this folder.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for shot in take_screenshots(args.reports, args.docs_site, args.docs_img):
            logger.info("wrote %s", shot)
    except ClickstreamError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
