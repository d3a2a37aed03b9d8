"""Flag bot traffic, per event, with two documented rules.

1. *User agent*: the ``useragent`` matches a crawler pattern (case-insensitive): ``bot`` as a
   word or product token (Googlebot, bingbot/2.0, AdsBot-Google), ``crawler``/``crawling``,
   ``spider``, ``headless`` (HeadlessChrome), ``slurp``, ``phantomjs``, ``python-requests``,
   ``curl/``, ``wget/``.
2. *Rate*: the device (``anonymous_id``) sent more than ``max_per_minute`` (120) events within
   the same UTC calendar minute of ``derived_ts``. No human clicks twice a second for a minute.

The flag is decided per event from that event and its own minute only, so it does not depend
on which days a run happens to read: staging day by day and in one backfill agree. dbt rolls
it up to sessions (a session is a bot session when any of its events is flagged). The minute
window is partitioned by ``anonymous_id`` first, so it reuses the sessionizer's shuffle.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from clickstream.contract import BOT_USER_AGENT_PATTERN

BOT_USER_AGENT = BOT_USER_AGENT_PATTERN
MAX_EVENTS_PER_MINUTE = 120


def flag_bots(df: DataFrame, max_per_minute: int = MAX_EVENTS_PER_MINUTE) -> DataFrame:
    """Add boolean ``is_bot`` to events with ``anonymous_id``, ``useragent`` and ``derived_ts``."""
    minute = Window.partitionBy("anonymous_id", F.date_trunc("minute", "derived_ts"))
    by_agent = F.coalesce(F.col("useragent").rlike(BOT_USER_AGENT), F.lit(False))
    by_rate = F.count(F.lit(1)).over(minute) > max_per_minute
    return df.withColumn("is_bot", by_agent | by_rate)
