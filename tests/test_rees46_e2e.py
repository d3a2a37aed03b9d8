"""Real exports through the whole warehouse: REES46 rows in, reconciled marts out.

The shipped fixture has hand-computed answers; the real 9k-row sample (from ../shared, when
present) is checked against an independent computation over the raw CSV with the csv module.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from clickstream.config import PROJECT_ROOT, Settings
from clickstream.runner import run_all
from tests.conftest import settings_under
from tests.pg import scalar

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.spark]

FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "rees46" / "mini.csv"
REAL_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "real" / "rees46" / "2019-Oct-head9k.csv"


def settings_for(dsn: str, root: Path) -> Settings:
    return settings_under(root, pg_dsn=dsn)


def run_rees46(dsn: str, root: Path, source: Path):  # type: ignore[no-untyped-def]
    return run_all(
        settings_for(dsn, root), source="rees46", inputs=[source], analyze=False, docs=False
    )


def test_fixture_through_the_warehouse_gives_the_hand_computed_answers(
    spark: Any, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    summary = run_rees46(fresh_pg_dsn, tmp_path, FIXTURE)
    assert [d.day for d in summary.days] == [dt.date(2019, 11, 1), dt.date(2019, 11, 2)]
    # 34 rows: 9 bad ones quarantined, 4 exact duplicates, 21 accepted.
    assert sum(d.landed_rows for d in summary.days) == 34
    assert sum(d.quarantined for d in summary.days) == 9
    assert sum(d.duplicates for d in summary.days) == 4
    assert sum(d.accepted for d in summary.days) == 21
    # Orders: sess-a 100.00 + 50.50, sess-c 60.00, sess-d 90.00 + 899.99, sess-e 15 + 15.00.
    assert summary.orders == 4
    assert Decimal(str(summary.revenue)) == Decimal("1230.49")
    for mart in ("fct_sessions", "fct_orders", "fct_daily_metrics"):
        assert scalar(fresh_pg_dsn, f"select sum(revenue) from marts.{mart}") == Decimal("1230.49")
    assert scalar(fresh_pg_dsn, "select count(distinct user_id) from marts.fct_events") == 5
    # Product 1001's price change (100.00 → 90.00 on 2019-11-02) is an SCD2 version.
    assert (
        scalar(fresh_pg_dsn, "select count(*) from marts.dim_products where product_id = '1001'")
        == 2
    )
    assert summary.source_sessions is not None and summary.source_sessions > 0


HEADER = FIXTURE.read_text(encoding="utf-8").splitlines()[0]  # the export's columns


def run_export_text(dsn: str, root: Path, export: str):  # type: ignore[no-untyped-def]
    """The whole warehouse run over an export given as its CSV text."""
    source = root / "export.csv"
    source.write_text(export, encoding="utf-8")
    return run_rees46(dsn, root / "run", source)


FREE_ORDER = f"""{HEADER}
2019-11-01 10:00:00 UTC,view,2001,2053013555631882655,electronics.audio,sony,0.00,201,sess-free
2019-11-01 10:01:00 UTC,purchase,2001,2053013555631882655,electronics.audio,sony,0.00,201,sess-free
2019-11-01 11:00:00 UTC,view,2002,2053013555631882655,electronics.audio,sony,19.90,202,sess-paid
2019-11-01 11:01:00 UTC,purchase,2002,2053013555631882655,electronics.audio,sony,19.90,202,sess-paid
"""


def test_a_free_purchase_is_an_order_with_zero_revenue_not_a_failed_build(
    spark: Any, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    # price 0.00 occurs in real exports; a purchase at that price is still an order
    summary = run_export_text(fresh_pg_dsn, tmp_path, FREE_ORDER)
    assert summary.orders == 2
    assert Decimal(str(summary.revenue)) == Decimal("19.90")
    converted = scalar(
        fresh_pg_dsn,
        "select count(*) from marts.fct_sessions where is_converted and revenue = 0",
    )
    assert converted == 1
    assert scalar(fresh_pg_dsn, "select count(*) from marts.fct_orders where revenue = 0") == 1


# One user_session with two purchases 39 minutes apart and nothing between (two staging
# sessions), one shared by two users, and one whose purchases a quarantined purchase sits between.
SPLIT_SESSIONS = f"""{HEADER}
2019-11-01 10:00:00 UTC,view,3001,2053013555631882655,electronics.audio,sony,10.00,301,sess-long
2019-11-01 10:01:00 UTC,purchase,3001,2053013555631882655,electronics.audio,sony,10.00,301,sess-long
2019-11-01 10:40:00 UTC,purchase,3002,2053013555631882655,electronics.audio,sony,20.00,301,sess-long
2019-11-01 12:00:00 UTC,purchase,3001,2053013555631882655,electronics.audio,sony,10.00,302,sess-two
2019-11-01 12:00:20 UTC,purchase,3002,2053013555631882655,electronics.audio,sony,20.00,303,sess-two
2019-11-01 13:00:00 UTC,purchase,3001,2053013555631882655,electronics.audio,sony,10.00,304,sess-bad
2019-11-01 13:25:00 UTC,purchase,3002,2053013555631882655,electronics.audio,sony,oops,304,sess-bad
2019-11-01 13:50:00 UTC,purchase,3002,2053013555631882655,electronics.audio,sony,20.00,304,sess-bad
"""


def test_a_real_user_session_longer_than_a_staging_session_is_split_into_orders(
    spark: Any, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    # REES46 user_sessions pause for an hour (the real sample has one) or hold two users: each
    # order must still complete within one 30-minute session, or the dbt build fails
    summary = run_export_text(fresh_pg_dsn, tmp_path, SPLIT_SESSIONS)
    assert sum(d.quarantined for d in summary.days) == 1
    assert summary.orders == 6
    assert Decimal(str(summary.revenue)) == Decimal("90.00")
    per_session = scalar(
        fresh_pg_dsn,
        "select count(*) from marts.fct_sessions where is_converted and source_session_id in "
        "('sess-long', 'sess-two', 'sess-bad')",
    )
    assert per_session == 6  # every order converts its own 30-minute session
    assert scalar(fresh_pg_dsn, "select count(distinct session_id) from marts.fct_orders") == 6


def independent_expectations(path: Path) -> dict[str, Any]:
    """Revenue, users and row fates computed straight from the CSV, without the project."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [tuple(row) for row in csv.reader(handle)][1:]
    seen: set[tuple[str, ...]] = set()
    revenue = Decimal(0)
    users: set[str] = set()
    duplicates = 0
    for row in rows:
        if row in seen:
            duplicates += 1
            continue
        seen.add(row)
        event_time, event_type, _, _, _, _, price, user_id, session = row
        try:
            dt.datetime.strptime(event_time, "%Y-%m-%d %H:%M:%S UTC")
            amount = Decimal(price)
        except (ValueError, InvalidOperation):
            continue
        if amount < 0 or not user_id or not session:
            continue
        users.add(user_id)
        if event_type == "purchase":
            revenue += amount
    return {"rows": len(rows), "duplicates": duplicates, "revenue": revenue, "users": len(users)}


@pytest.mark.skipif(
    not REAL_SAMPLE.exists(), reason=f"real REES46 sample not present at {REAL_SAMPLE}"
)
def test_real_rees46_sample_reconciles_through_the_whole_warehouse(
    spark: Any, fresh_pg_dsn: str, tmp_path: Path
) -> None:
    expected = independent_expectations(REAL_SAMPLE)
    summary = run_rees46(fresh_pg_dsn, tmp_path, REAL_SAMPLE)
    landed = sum(d.landed_rows for d in summary.days)
    assert landed == expected["rows"]
    assert landed == sum(d.accepted + d.quarantined + d.duplicates for d in summary.days)
    assert sum(d.duplicates for d in summary.days) == expected["duplicates"]
    revenue = expected["revenue"]
    assert revenue > 0
    assert scalar(fresh_pg_dsn, "select sum(revenue) from marts.fct_sessions") == revenue
    assert scalar(fresh_pg_dsn, "select sum(revenue) from marts.fct_orders") == revenue
    assert scalar(fresh_pg_dsn, "select sum(revenue) from marts.fct_daily_metrics") == revenue
    assert (
        scalar(fresh_pg_dsn, "select count(distinct user_id) from marts.fct_events")
        == expected["users"]
    )
    # The agreement between the 30-minute sessions and the source's user_session is reported.
    assert summary.source_sessions is not None and summary.source_sessions > 0
    assert summary.source_sessions_reproduced is not None
    assert 0 < summary.source_sessions_reproduced <= 1
