"""Headless Chromium for screenshots and DOM checks of the dashboard and the dbt docs site.

Only the stock ``chromium`` binary is used (``--screenshot``, ``--dump-dom``), no browser driver:
``--virtual-time-budget`` lets the docs site's JavaScript finish before the DOM is dumped. The
docs site loads its manifest with fetch(), which file:// forbids, so it is served over HTTP on a
free localhost port for the duration of a ``with`` block.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clickstream.docs_server import make_server
from clickstream.errors import ConfigError, StageFailedError

logger = logging.getLogger(__name__)

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TIMEOUT_SECONDS = 120


def find_chromium() -> str:
    """Path of a Chromium binary, or a ConfigError saying how to install one."""
    for name in CHROMIUM_CANDIDATES:
        if path := shutil.which(name):
            return path
    raise ConfigError(
        "Headless Chromium is needed for screenshots: install it with "
        "'apt-get update && apt-get install -y chromium'."
    )


def _run_chromium(extra: list[str], url: str, budget_ms: int) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            *extra,
            url,
        ]
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise StageFailedError(
                f"Chromium did not finish rendering {url} within {TIMEOUT_SECONDS} s."
            ) from None
    if completed.returncode != 0:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise StageFailedError(f"Chromium failed on {url} (exit {completed.returncode}): {detail}")
    return completed.stdout


def dump_dom(url: str, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran for ``budget_ms`` of virtual time."""
    return _run_chromium(["--dump-dom"], url, budget_ms)


def screenshot(
    url: str, out_png: Path, width: int = 1400, height: int = 1800, budget_ms: int = 10_000
) -> Path:
    """Save a PNG of the page's first ``width`` x ``height`` pixels."""
    out_png.parent.mkdir(parents=True, exist_ok=True)
    _run_chromium(
        [f"--screenshot={out_png.resolve()}", f"--window-size={width},{height}"], url, budget_ms
    )
    if not out_png.is_file():
        raise StageFailedError(f"Chromium wrote no screenshot for {url} at {out_png}.")
    logger.info("screenshot of %s -> %s", url, out_png)
    return out_png


@contextmanager
def serve_directory(site_dir: Path) -> Iterator[str]:
    """Serve ``site_dir`` on 127.0.0.1 at a free port; yield its base URL; stop on exit."""
    server = make_server(site_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, name="docs-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def lineage_url(base_url: str, model: str = "fct_sessions", project: str = "clickstream") -> str:
    """The docs-site URL that opens a model's page with its lineage graph expanded."""
    return f"{base_url}/index.html#!/model/model.{project}.{model}?g_v=1"
