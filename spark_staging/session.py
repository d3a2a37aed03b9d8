"""Build the SparkSession, tuned for small local batches and valid on a cluster too."""

from __future__ import annotations

import os
import shutil
import sys

from pyspark.sql import SparkSession

from clickstream.config import Settings
from clickstream.errors import JavaMissingError


def ensure_java() -> None:
    """Fail with a clear message when no Java runtime is on PATH or JAVA_HOME."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return
    if shutil.which("java"):
        return
    raise JavaMissingError(
        "Java 17+ is required by Spark but was not found. Install it with "
        "'apt-get install -y openjdk-17-jre-headless' (or set JAVA_HOME)."
    )


def build_spark(
    master: str = "local[2]",
    app_name: str = "clickstream-staging",
    shuffle_partitions: int = 4,
) -> SparkSession:
    """Return a SparkSession configured for this pipeline.

    Few shuffle partitions and AQE keep small daily batches from exploding into thousands of
    tiny tasks and files; UTC everywhere so dates never depend on the machine's zone; the
    executors use this interpreter so Python UDF-free code and Arrow conversions agree.
    """
    ensure_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("CLICKSTREAM_SPARK_DRIVER_MEMORY", "4g"))
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_for(settings: Settings, app_name: str = "clickstream-staging") -> SparkSession:
    """The SparkSession a run's settings ask for (master URL and shuffle partitions)."""
    return build_spark(settings.spark_master, app_name, settings.spark_shuffle_partitions)
