"""The landing contract (docs/contracts.md §1–2) as constants, written down once.

Pure Python on purpose: the generator, the REES46 importer and Spark staging all import it,
and none of them should need the others' dependencies to know the column order.
"""

from __future__ import annotations

LANDING_EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_name",
    "anonymous_id",
    "user_id",
    "dvce_created_ts",
    "dvce_sent_ts",
    "collector_ts",
    "page_url",
    "page_path",
    "page_referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "refr_medium",
    "useragent",
    "device_type",
    "geo_country",
    "ip",
    "product_id",
    "price",
    "quantity",
    "order_id",
    "revenue",
    "currency",
    "search_query",
    "source_session_id",
)
"""The 26 landing event columns, in file order."""

USER_EXTRACT_COLUMNS: tuple[str, ...] = (
    "user_id",
    "email",
    "first_name",
    "last_name",
    "city",
    "country",
    "loyalty_tier",
    "marketing_opt_in",
    "created_at",
    "updated_at",
)
"""Columns of ``users/extract_date=D/users.csv``."""

PRODUCT_EXTRACT_COLUMNS: tuple[str, ...] = (
    "product_id",
    "product_name",
    "category_l1",
    "category_l2",
    "category_l3",
    "brand",
    "price",
    "currency",
    "is_discontinued",
    "created_at",
    "updated_at",
)
"""Columns of ``products/extract_date=D/products.csv``."""

EVENT_NAMES: tuple[str, ...] = (
    "page_view",
    "product_viewed",
    "product_list_viewed",
    "search",
    "product_added",
    "product_removed",
    "checkout_started",
    "order_completed",
    "identify",
)
"""Event names staging accepts; anything else is quarantined as ``unknown_event``."""

TIMESTAMP_COLUMNS: tuple[str, ...] = ("dvce_created_ts", "dvce_sent_ts", "collector_ts")
REQUIRED_COLUMNS: tuple[str, ...] = ("event_id", "event_name", "anonymous_id", *TIMESTAMP_COLUMNS)

QUARANTINE_REASONS: tuple[str, ...] = (
    "malformed",
    "missing_field",
    "bad_type",
    "unknown_event",
    "future_ts",
    "too_late",
    "orphan_product",
)
"""Quarantine reasons in rule order: the first failing rule wins."""

BOT_USER_AGENT_PATTERN = (
    r"(?i)(bot\b|bot/|crawler|crawling|spider|headless|slurp|phantomjs|python-requests|scrapy|curl/"
    r"|wget/)"
)
"""User agents staging flags as bots (valid as a Java and a Python regex). The generator draws
human user agents only from those that do not match, so no shopper is mistaken for a bot."""

BOT_USER_AGENT_HINTS: tuple[str, ...] = (
    "bot",
    "crawl",
    "spider",
    "headless",
    "slurp",
    "phantomjs",
    "python-requests",
    "scrapy",
    "curl/",
    "wget/",
)
"""Lowercase substrings, one inside every alternative of ``BOT_USER_AGENT_PATTERN`` (tested): a
user agent containing none of them cannot match, so the regex only runs on the few that do."""
