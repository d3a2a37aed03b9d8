"""Serve the generated dbt docs site on localhost (the lineage graph needs HTTP, not file://)."""

from __future__ import annotations

import errno
import functools
import http.server
import logging
import socketserver
from pathlib import Path

from clickstream.errors import EmptyInputError, PortInUseError

logger = logging.getLogger(__name__)


def make_server(site_dir: Path, port: int, host: str = "127.0.0.1") -> socketserver.TCPServer:
    """A threaded static server for ``site_dir``; raises PortInUseError with advice."""
    if not (site_dir / "index.html").exists():
        raise EmptyInputError(f"No docs site in {site_dir}; run 'clickstream docs' first.")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"Port {port} on {host} is already in use; pass --port with a free one."
            ) from None
        raise


def serve_docs(site_dir: Path, port: int) -> None:
    """Serve until Ctrl-C."""
    server = make_server(site_dir, port)
    logger.info("Serving dbt docs at http://127.0.0.1:%d (Ctrl-C to stop)", port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
