"""The dashboard and the dbt docs lineage site, opened in real headless Chromium.

Both run on the synthetic analysis warehouse shared with tests/test_analyses.py. The docs site
is a JavaScript app that fetches its manifest, so it is served over HTTP on a free localhost
port and its DOM is checked after the scripts ran (``--virtual-time-budget``).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clickstream.dbt import docs_generate
from clickstream.reporting.browser import (
    dump_dom,
    find_chromium,
    lineage_url,
    screenshot,
    serve_directory,
)
from tests.analyses_marts import MART_COLUMNS, AnalysisWarehouse, analysis_warehouse
from tests.conftest import create_database, drop_database

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AnalysisWarehouse:
    find_chromium()  # fail with install advice before paying for the warehouse
    built, cleanup = analysis_warehouse(
        tmp_path_factory.mktemp("analyses"), create_database, drop_database
    )
    if cleanup is not None:
        request.addfinalizer(cleanup)
    return built


@pytest.fixture(scope="module")
def docs_site(warehouse: AnalysisWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("docs_target")
    return docs_generate(warehouse.dsn, target_path=target).parent


def test_dashboard_shows_every_chart_and_the_kpi_tiles_in_chromium(
    warehouse: AnalysisWarehouse,
) -> None:
    url = warehouse.report.dashboard_path.resolve().as_uri()
    dom = dump_dom(url, budget_ms=3_000)
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', dom)
    assert len(images) == len(warehouse.report.charts) >= 20
    assert dom.count('class="tile"') == 6
    assert "Clickstream analytics dashboard" in dom
    shot = screenshot(url, warehouse.reports_dir / "screenshots" / "dashboard.png", height=2200)
    assert shot.read_bytes()[:8] == PNG_MAGIC
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank frame


def test_docs_site_renders_the_lineage_graph_with_the_marts(
    warehouse: AnalysisWarehouse, docs_site: Path
) -> None:
    assert (docs_site / "manifest.json").is_file() and (docs_site / "catalog.json").is_file()
    with serve_directory(docs_site) as base_url:
        url = lineage_url(base_url, "fct_sessions")
        dom = dump_dom(url, budget_ms=20_000)
        shot = screenshot(
            url,
            warehouse.reports_dir / "screenshots" / "lineage.png",
            width=1600,
            height=1000,
            budget_ms=20_000,
        )
    assert "Lineage Graph" in dom
    assert 'data-id="layer2-node"' in dom, "cytoscape drew no node layer"
    for mart in MART_COLUMNS:
        assert mart in dom, f"{mart} missing from the rendered docs site"
    assert "rpt_product_affinity" in dom
    assert shot.read_bytes()[:8] == PNG_MAGIC


def test_docs_server_stops_when_the_block_ends(docs_site: Path) -> None:
    with (
        serve_directory(docs_site) as base_url,
        urllib.request.urlopen(f"{base_url}/index.html", timeout=5) as response,
    ):
        assert response.status == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base_url}/index.html", timeout=2)
