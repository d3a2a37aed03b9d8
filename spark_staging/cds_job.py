"""``python -m spark_staging.cds_job ARCHIVE``: the job whose JVM writes the class-data archive.

Run by :func:`spark_staging.cds.build_archive` in a child interpreter. It stages one tiny
generated day, so the archive holds the classes a real staging run loads: CSV reading, the
windows, Parquet writing. The JVM writes the archive when this process exits. A second day,
staged against the first one's lake as a daily run does, added 0.3 MB to a 190 MB archive and
17 s to an 88 s build (2-core box in a slow phase), so one day is enough.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

WARM_UP_EVENTS_PER_DAY = 2_000
WARM_UP_START = dt.date(2024, 3, 1)


def main(archive: str) -> int:
    from clickstream.config import Settings
    from generator import GeneratorConfig, generate
    from spark_staging.cds import dump_options
    from spark_staging.session import build_spark
    from spark_staging.stage import stage_days

    with tempfile.TemporaryDirectory(prefix="clickstream-warm-up-") as scratch:
        root = Path(scratch)
        settings = Settings(landing_dir=root / "landing", lake_dir=root / "lake")
        generate(
            GeneratorConfig(seed=1, events_per_day=WARM_UP_EVENTS_PER_DAY),
            WARM_UP_START,
            1,
            settings.landing_dir,
        )
        spark = build_spark(
            app_name="clickstream-warm-up",
            shuffle_partitions=2,
            driver_options=dump_options(Path(archive)),
        )
        stage_days(spark, settings, [WARM_UP_START])
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
