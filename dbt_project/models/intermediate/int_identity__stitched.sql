-- int_identity__stitched: one row per device (grain: anonymous_id) with the user it belongs to.
-- The map is applied back to the device's anonymous events, before and after the login.
-- is_restitched tells the incremental facts which devices the reprocessed window may have moved
-- to another user. Each build also keeps, per device, the state of its events dated before the
-- window (settled_*): those events no longer change, so the next day's build folds only the
-- events from there on into that state instead of grouping the whole history again.
{#- Incremental only to keep the relation: every run emits every device, which replace_all
    writes over the old rows instead of swapping tables (that dropped the views over it). -#}
{{ config(
    materialized="incremental",
    incremental_strategy="replace_all",
    on_schema_change="sync_all_columns",
    indexes=[{"columns": ["anonymous_id"], "unique": true}],
) }}

{#- The previous map's settled state is reused when it ends no later than this window's start:
    a daily build after the previous day's. Without a window, on --full-refresh, on a backfill
    (a window before the state's end) or when the table lacks the state, the whole history is
    grouped. -#}
{%- set window_start_day = window_setting('window_start') -%}
{%- set settled_from = none -%}
{%- if execute and this is not none and window_start_day and not flags.FULL_REFRESH -%}
    {%- set previous = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- if previous is not none
        and 'settled_before' in adapter.get_columns_in_relation(previous) | map(attribute='name') | list -%}
        {%- set state_end = run_query('select max(settled_before) from ' ~ previous).columns[0].values()[0] -%}
        {%- if state_end is not none and state_end | string <= window_start_day -%}
            {%- set settled_from = state_end | string -%}
        {%- endif -%}
    {%- endif -%}
{%- endif %}

with

events as (
    select * from {{ ref('stg_raw__events') }}
    {% if settled_from -%}
        where event_date >= cast('{{ settled_from }}' as date)
    {%- endif %}
),

{% if settled_from -%}

previous_state as (
    select * from {{ this }}
),

{% endif -%}

device_events as (
    select
        anonymous_id,
        user_id,
        event_ts,
        event_id,
        -- settled: dated before the window, so final from this build on; without a window,
        -- nothing is settled and every event counts as new (every identified device is
        -- re-stitched)
        coalesce(event_date < {{ window_start(fallback='1900-01-01') }}, false) as is_settled,
        coalesce(
            event_date >= {{ window_start(fallback='1900-01-01') }}
            and event_date < {{ window_end() }},
            false
        ) as is_in_window,
        -- past the window (a backfill): outside it, as settled events are
        coalesce(event_date >= {{ window_end() }}, false) as is_after_window
    from events
),

new_parts as (
    -- the events read, grouped once per device into their settled, window and later parts
    select
        anonymous_id,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (
            where user_id is not null and is_settled
        ))[1] as settled_user_id,
        max(event_ts) filter (where user_id is not null and is_settled) as settled_user_ts,
        (array_agg(event_id order by event_ts desc, event_id desc) filter (
            where user_id is not null and is_settled
        ))[1] as settled_user_event_id,
        min(event_ts) filter (where is_settled) as settled_first_seen_ts,
        max(event_ts) filter (where is_settled) as settled_last_seen_ts,
        array_agg(distinct user_id) filter (where user_id is not null and is_settled)
            as settled_user_ids,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (
            where user_id is not null and not is_settled
        ))[1] as recent_user_id,
        max(event_ts) filter (where user_id is not null and not is_settled) as recent_user_ts,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (
            where user_id is not null and is_after_window
        ))[1] as later_user_id,
        min(event_ts) filter (where not is_settled) as recent_first_seen_ts,
        max(event_ts) filter (where not is_settled) as recent_last_seen_ts,
        array_agg(distinct user_id) filter (where user_id is not null and not is_settled)
            as recent_user_ids,
        min(user_id) filter (where is_in_window) as min_window_user_id,
        max(user_id) filter (where is_in_window) as max_window_user_id
    from device_events
    group by anonymous_id
),

settled as (
    -- the settled state as of the window start: the previous state with the events that
    -- settled since folded in (the latest identified event wins, by time then event id)
    select
        {% if settled_from %}
        coalesce(new_parts.anonymous_id, previous_state.anonymous_id) as anonymous_id,
        {%- for column in ['settled_user_id', 'settled_user_ts', 'settled_user_event_id'] %}
        case
            when previous_state.settled_user_id is null
                or (new_parts.settled_user_ts, new_parts.settled_user_event_id)
                > (previous_state.settled_user_ts, previous_state.settled_user_event_id)
                then coalesce(new_parts.{{ column }}, previous_state.{{ column }})
            else previous_state.{{ column }}
        end as {{ column }},
        {%- endfor %}
        least(new_parts.settled_first_seen_ts, previous_state.settled_first_seen_ts)
            as settled_first_seen_ts,
        greatest(new_parts.settled_last_seen_ts, previous_state.settled_last_seen_ts)
            as settled_last_seen_ts,
        case
            when new_parts.settled_user_ids is null
                then coalesce(previous_state.settled_user_ids, '[]')
            else (
                select jsonb_agg(distinct user_ids.user_id order by user_ids.user_id) as user_ids
                from (
                    select jsonb_array_elements_text(previous_state.settled_user_ids) as user_id
                    union all
                    select unnest(new_parts.settled_user_ids) as user_id
                ) as user_ids (user_id)
            )
        end as settled_user_ids,
        {% else %}
        new_parts.anonymous_id,
        new_parts.settled_user_id,
        new_parts.settled_user_ts,
        new_parts.settled_user_event_id,
        new_parts.settled_first_seen_ts,
        new_parts.settled_last_seen_ts,
        -- jsonb, not text[]: dbt's unit-test fixtures cannot cast to a column typed ARRAY
        coalesce(to_jsonb(new_parts.settled_user_ids), '[]') as settled_user_ids,
        {% endif %}
        new_parts.recent_user_id,
        new_parts.recent_user_ts,
        new_parts.later_user_id,
        new_parts.recent_first_seen_ts,
        new_parts.recent_last_seen_ts,
        coalesce(new_parts.recent_user_ids, '{}') as recent_user_ids,
        new_parts.min_window_user_id,
        new_parts.max_window_user_id
    from new_parts
    {% if settled_from -%}
        full outer join previous_state
            on new_parts.anonymous_id = previous_state.anonymous_id
    {%- endif %}
),

devices as (
    select
        *,
        -- recent events are dated after every settled one, so their latest user wins
        coalesce(recent_user_id, settled_user_id) as user_id,
        coalesce(recent_user_ts, settled_user_ts) as identified_at,
        -- the device's latest user outside the window: past it (a backfill), else before it
        coalesce(later_user_id, settled_user_id) as user_id_outside_window,
        -- the settled users are distinct already: most devices have no recent user to add
        case
            when recent_user_ids = '{}' then jsonb_array_length(settled_user_ids)
            else (
                select count(distinct user_ids.user_id) as user_count
                from (
                    select jsonb_array_elements_text(settled_user_ids) as user_id
                    union all
                    select unnest(recent_user_ids) as user_id
                ) as user_ids (user_id)
            )
        end as identified_user_count
    from settled
),

final as (
    select
        -- ids
        anonymous_id,
        user_id,

        -- timestamps
        least(settled_first_seen_ts, recent_first_seen_ts) as first_seen_ts,
        greatest(settled_last_seen_ts, recent_last_seen_ts) as last_seen_ts,
        identified_at,

        -- measures
        identified_user_count,

        -- incremental scope: the device's user before this window was its latest user outside
        -- the window or one of its users inside it; unless all of those are today's user, the
        -- window may have changed it, and its events outside the window need the new one
        coalesce(
            min_window_user_id is not null
            and (
                min_window_user_id != user_id
                or max_window_user_id != user_id
                or user_id_outside_window is distinct from user_id
            ),
            false
        ) as is_restitched,

        -- settled state for the next build: the device's events dated before settled_before
        cast({{ window_start(fallback='1900-01-01') }} as date) as settled_before,
        settled_user_id,
        settled_user_ts,
        settled_user_event_id,
        settled_first_seen_ts,
        settled_last_seen_ts,
        settled_user_ids
    from devices
)

select * from final
