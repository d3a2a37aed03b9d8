"""The stages agree on one contract: the same columns, names and reasons everywhere."""

from __future__ import annotations

import re

from clickstream import contract
from generator import vocab
from generator.rows import EVENT_COLUMNS as GENERATED_COLUMNS
from spark_staging.ddl import EVENT_COLUMNS as RAW_EVENT_COLUMNS
from spark_staging.ddl import PRODUCT_COLUMNS as RAW_PRODUCT_COLUMNS
from spark_staging.ddl import USER_COLUMNS as RAW_USER_COLUMNS
from spark_staging.ddl import column_names
from spark_staging.schema import LAKE_EVENT_COLUMNS


def test_generator_emits_exactly_the_event_names_staging_accepts() -> None:
    assert set(vocab.EVENT_NAMES) == set(contract.EVENT_NAMES)
    assert not set(vocab.UNKNOWN_EVENT_NAMES) & set(contract.EVENT_NAMES)


def test_generator_writes_the_landing_columns_in_contract_order() -> None:
    assert GENERATED_COLUMNS == contract.LANDING_EVENT_COLUMNS


def test_raw_events_table_has_exactly_the_lake_columns() -> None:
    # The loader COPYs with an explicit column list, so only the set has to agree.
    assert sorted(column_names(RAW_EVENT_COLUMNS)) == sorted(LAKE_EVENT_COLUMNS)


def test_raw_extract_tables_hold_the_landing_extract_columns_plus_extract_date() -> None:
    assert column_names(RAW_USER_COLUMNS) == [*contract.USER_EXTRACT_COLUMNS, "extract_date"]
    assert column_names(RAW_PRODUCT_COLUMNS) == [*contract.PRODUCT_EXTRACT_COLUMNS, "extract_date"]


def test_generated_shoppers_never_carry_a_user_agent_staging_calls_a_bot() -> None:
    bot = re.compile(contract.BOT_USER_AGENT_PATTERN)
    agents = [a for pool in vocab.build_vocabulary(42).user_agents.values() for a in pool]
    assert agents
    assert not [agent for agent in agents if bot.search(agent)]


def test_every_generated_bot_user_agent_is_one_staging_flags() -> None:
    # The generator's crawlers must trip the user-agent rule: a slow one never trips the rate rule.
    bot = re.compile(contract.BOT_USER_AGENT_PATTERN)
    assert [agent for agent in vocab.BOT_USER_AGENTS if not bot.search(agent)] == []


def test_every_bot_pattern_alternative_contains_a_prefilter_hint() -> None:
    # Staging only runs the regex on agents containing a hint: an alternative without one
    # would silently stop matching.
    body = re.fullmatch(r"\(\?i\)\((.*)\)", contract.BOT_USER_AGENT_PATTERN)
    assert body is not None
    alternatives = [alt.replace(r"\b", "").lower() for alt in body.group(1).split("|")]
    assert len(alternatives) > 5
    missing = [
        alt for alt in alternatives if not any(h in alt for h in contract.BOT_USER_AGENT_HINTS)
    ]
    assert not missing
    assert all(hint == hint.lower() for hint in contract.BOT_USER_AGENT_HINTS)
