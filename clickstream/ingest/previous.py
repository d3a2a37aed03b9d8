"""Continue the products and users history of an earlier REES46 import into the same landing.

Extracts are cumulative ("every product seen so far"), so importing November after October in a
separate call must start from October's last extracts; otherwise products seen only in October
would vanish from November's extracts and dbt's SCD2 history would treat them as gone.

Only extracts of days that the REES46 importer wrote (its manifest says so) are used: a landing
folder shared with the synthetic generator must not leak its catalogue into real data.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from pathlib import Path

from clickstream.ingest.catalog import ObservedCatalog, parse_ts

logger = logging.getLogger(__name__)

IMPORTER_NAME = "rees46"


def _imported_days(landing_dir: Path) -> list[dt.date]:
    """Days whose landing manifest was written by this importer, oldest first."""
    days = []
    for manifest in (landing_dir / "events").glob("event_date=*/_manifest.json"):
        try:
            content = json.loads(manifest.read_text(encoding="utf-8"))
            day = dt.date.fromisoformat(manifest.parent.name.split("=", 1)[1])
        except (ValueError, OSError):
            continue
        if isinstance(content, dict) and content.get("importer") == IMPORTER_NAME:
            days.append(day)
    return sorted(days)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def seed_from_earlier_import(
    catalog: ObservedCatalog, landing_dir: Path, before: dt.date
) -> dt.date | None:
    """Load the extracts of the last imported day before ``before``; return that day or None."""
    earlier = [day for day in _imported_days(landing_dir) if day < before]
    if not earlier:
        return None
    day = earlier[-1]
    folder = f"extract_date={day.isoformat()}"
    products = landing_dir / "products" / folder / "products.csv"
    users = landing_dir / "users" / folder / "users.csv"
    if not (products.is_file() and users.is_file()):
        return None
    for row in _rows(products):
        catalog.seed_product(
            row["product_id"],
            parse_ts(row["created_at"]),
            parse_ts(row["updated_at"]),
            (
                row["price"],
                row["category_l1"],
                row["category_l2"],
                row["category_l3"],
                row["brand"],
            ),
        )
    for row in _rows(users):
        catalog.observe_user(row["user_id"], parse_ts(row["created_at"]))
    logger.info("continuing products and users history from the import of %s", day)
    return day
