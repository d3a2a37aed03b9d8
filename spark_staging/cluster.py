"""A throwaway Spark standalone cluster (one master, one worker) on 127.0.0.1.

Started from the pyspark distribution's own ``spark-class`` so tests and the benchmark can run
the staging job against ``spark://127.0.0.1:<port>`` exactly as it would run on a real cluster.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clickstream.errors import PortInUseError, StageFailedError
from spark_staging.java import ensure_java

logger = logging.getLogger(__name__)


def spark_home() -> Path:
    """The pyspark package folder, which is a complete Spark distribution."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(predicate: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise StageFailedError(f"Timed out after {timeout:.0f}s waiting for {what}.")


@contextmanager
def local_cluster(
    worker_cores: int = 2, worker_memory: str = "2g", port: int | None = None, timeout: float = 90
) -> Iterator[str]:
    """Start a master and a worker, yield the master URL, always stop both."""
    ensure_java()
    port = port or free_port()
    if _port_open(port):
        raise PortInUseError(f"Port {port} is in use; choose another for the Spark master.")
    home = spark_home()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }
    spark_class = [str(home / "bin" / "spark-class")]
    web_port = free_port()
    master = subprocess.Popen(
        [
            *spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(web_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"spark://127.0.0.1:{port}"
    worker: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: _port_open(port), "the Spark master", timeout)
        worker_web = free_port()
        worker = subprocess.Popen(
            [
                *spark_class,
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                str(worker_cores),
                "--memory",
                worker_memory,
                "--webui-port",
                str(worker_web),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for(lambda: _port_open(worker_web), "the Spark worker", timeout)
        logger.info("Spark standalone cluster up at %s", url)
        yield url
    finally:
        for process in (worker, master):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
