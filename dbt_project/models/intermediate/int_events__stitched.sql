-- int_events__stitched: one row per event (grain: event_id) with the stitched user and the
-- channel and device keys. A view: the incremental facts filter it by date or session.
{{ config(event_time='event_ts') }}

with

events as (
    select * from {{ ref('stg_raw__events') }}
),

identities as (
    select * from {{ ref('int_identity__stitched') }}
),

user_agents as (
    select * from {{ ref('int_user_agents__parsed') }}
),

stitched as (
    select
        events.*,
        events.user_id as logged_user_id,
        coalesce(events.user_id, identities.user_id) as stitched_user_id,
        -- no agent (null or empty) parses as 'Other', as the macros do
        coalesce(user_agents.browser, 'Other') as browser,
        coalesce(user_agents.os, 'Other') as os
    from events
    left join identities
        on events.anonymous_id = identities.anonymous_id
    left join user_agents
        on events.useragent = user_agents.useragent
),

final as (
    select
        -- ids
        event_id,
        anonymous_id,
        logged_user_id,
        stitched_user_id as user_id,
        session_id,
        source_session_id,
        order_id,
        product_id,
        {{ surrogate_key(['channel']) }} as channel_key,
        {{ surrogate_key(['device_type', 'browser', 'os']) }} as device_key,

        -- event
        event_name,
        session_event_seq,
        page_url,
        page_path,
        page_referrer,
        search_query,
        channel,
        device_type,
        browser,
        os,
        is_bot,

        -- measures
        price,
        quantity,
        revenue,
        currency,

        -- timestamps
        event_ts,
        session_start_ts,
        event_date,
        arrival_date
    from stitched
)

select * from final
