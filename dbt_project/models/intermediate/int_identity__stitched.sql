-- int_identity__stitched: one row per device (grain: anonymous_id) with the user it belongs to.
-- The map is applied back to the device's anonymous events, before and after the login.
-- One grouping pass over the events; is_restitched tells the incremental facts which devices
-- the reprocessed window may have moved to another user.
{{ config(materialized="table", indexes=[{"columns": ["anonymous_id"], "unique": true}]) }}

with

events as (
    select * from {{ ref('stg_raw__events') }}
),

device_events as (
    select
        anonymous_id,
        user_id,
        event_ts,
        event_id,
        -- without a window every event counts as new, so every identified device is re-stitched
        coalesce(
            event_date >= {{ window_start(fallback='1900-01-01') }}
            and event_date < {{ window_end() }},
            false
        ) as is_in_window
    from events
),

devices as (
    select
        anonymous_id,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (where user_id is not null))[1]
            as user_id,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (
            where user_id is not null and not is_in_window
        ))[1] as user_id_outside_window,
        min(user_id) filter (where is_in_window) as min_window_user_id,
        max(user_id) filter (where is_in_window) as max_window_user_id,
        min(event_ts) as first_seen_ts,
        max(event_ts) as last_seen_ts,
        max(event_ts) filter (where user_id is not null) as identified_at,
        count(distinct user_id) as identified_user_count
    from device_events
    group by anonymous_id
),

final as (
    select
        -- ids
        anonymous_id,
        user_id,

        -- timestamps
        first_seen_ts,
        last_seen_ts,
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
        ) as is_restitched
    from devices
)

select * from final
