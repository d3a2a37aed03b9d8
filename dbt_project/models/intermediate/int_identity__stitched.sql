-- int_identity__stitched: one row per device (grain: anonymous_id) with the user it belongs to.
-- The map is applied back to the device's anonymous events, before and after the login.
{{ config(materialized="table", indexes=[{"columns": ["anonymous_id"], "unique": true}]) }}

with

events as (
    select * from {{ ref('stg_raw__events') }}
),

identified as (
    select
        anonymous_id,
        user_id,
        event_ts,
        event_id,
        row_number() over (
            partition by anonymous_id
            order by event_ts desc, event_id desc
        ) as recency_rank
    from events
    where user_id is not null
),

latest_identity as (
    select
        anonymous_id,
        user_id,
        event_ts as identified_at
    from identified
    where recency_rank = 1
),

devices as (
    select
        anonymous_id,
        min(event_ts) as first_seen_ts,
        max(event_ts) as last_seen_ts,
        count(distinct user_id) as identified_user_count
    from events
    group by anonymous_id
),

final as (
    select
        -- ids
        devices.anonymous_id,
        latest_identity.user_id,

        -- timestamps
        devices.first_seen_ts,
        devices.last_seen_ts,
        latest_identity.identified_at,

        -- measures
        devices.identified_user_count
    from devices
    left join latest_identity
        on devices.anonymous_id = latest_identity.anonymous_id
)

select * from final
