-- fct_sessions: one row per session (grain: session_id), aggregated from fct_events.
-- Incremental: whole sessions are rebuilt - every session with an event in [D-L, D+2) and every
-- session of a device the window re-stitched - plus the older sessions of the same users whose
-- is_first_session flag that changes (replace_window strategy). See the model docs.
-- depends_on: {{ ref('int_identity__stitched') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    unique_key='session_id',
    window_column='session_end_ts',
    window_date_column='session_date',
    on_schema_change='append_new_columns',
    event_time='session_start_ts',
    indexes=[
        {'columns': ['session_start_ts'], 'type': 'brin'},
        {'columns': ['anonymous_id']},
    ],
) }}

with

events as not materialized (
    -- not materialized (as existing_sessions): read several times, each time through an index
    -- or for a few columns, never worth a copy of the whole table
    select * from {{ ref('fct_events') }}
),

channels as (
    select * from {{ ref('dim_channel') }}
),

devices as (
    select * from {{ ref('dim_device') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

{% if is_incremental() %}

identities as (
    select * from {{ ref('int_identity__stitched') }}
),

existing_sessions as not materialized (
    select * from {{ this }}
),

window_sessions as (
    select distinct session_id
    from events
    where
        event_date >= {{ window_start('session_date') }}
        and event_date < {{ window_end() }}
),

restitched_sessions as (
    -- the device's events outside the window got a new user in fct_events
    select existing_sessions.session_id
    from existing_sessions
    inner join identities
        on existing_sessions.anonymous_id = identities.anonymous_id
    where identities.is_restitched
),

scoped_session_ids as (
    select session_id from window_sessions
    union
    select session_id from restitched_sessions
),

scoped_events as (
    -- a list, not a join: one index probe per session (a join plan read the whole index)
    select *
    from events
    where session_id = any(array(select session_id from scoped_session_ids))
),

{% else %}

scoped_events as (
    select * from events
),

{% endif %}

aggregated as (
    select
        session_id,
        min(anonymous_id) as anonymous_id,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (where user_id is not null))[1]
            as user_id,
        max(source_session_id) as source_session_id,
        min(event_ts) as session_start_ts,
        max(event_ts) as session_end_ts,
        (array_agg(page_path order by event_ts, session_event_seq, event_id) filter (
            where page_path is not null
        ))[1] as landing_page_path,
        (array_agg(page_path order by event_ts desc, session_event_seq desc, event_id desc) filter (
            where page_path is not null
        ))[1] as exit_page_path,
        -- the landing event's keys: the session's first event (small sorts per aggregate and
        -- session, where a row_number() window sorted every event and a join matched it back)
        (array_agg(channel_key order by event_ts, session_event_seq, event_id))[1] as channel_key,
        (array_agg(device_key order by event_ts, session_event_seq, event_id))[1] as device_key,
        count(*) as event_count,
        count(*) filter (where event_name = 'page_view') as page_view_count,
        count(*) filter (where event_name = 'product_viewed') as product_view_count,
        count(*) filter (
            where event_name not in ('page_view', 'product_viewed', 'product_list_viewed')
        ) as interaction_count,
        count(*) filter (where event_name = 'product_added') as add_to_cart_count,
        count(*) filter (where event_name = 'checkout_started') as checkout_count,
        count(distinct order_id) filter (where event_name = 'order_completed') as order_count,
        coalesce(sum(revenue) filter (where event_name = 'order_completed'), 0) as revenue,
        bool_or(is_bot) as is_bot
    from scoped_events
    group by session_id
),

sessions as (
    select
        aggregated.*,
        channels.channel,
        devices.device_type,
        coalesce(aggregated.user_id, aggregated.anonymous_id) as user_key
    from aggregated
    left join channels
        on aggregated.channel_key = channels.channel_key
    left join devices
        on aggregated.device_key = devices.device_key
),

{% if is_incremental() %}

affected_user_keys as (
    -- users (or lone devices) of the rebuilt sessions, now and before this run
    select user_key from sessions
    union
    select coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) as user_key
    from existing_sessions
    inner join scoped_session_ids
        on existing_sessions.session_id = scoped_session_ids.session_id
    union
    -- and of sessions reaching into the window that this run does not rebuild: their events
    -- vanished (the strategy deletes them) or lie past the window (a backfill); none daily,
    -- and a wider set of users is only more flags recomputed
    select coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) as user_key
    from existing_sessions
    left join scoped_session_ids
        on existing_sessions.session_id = scoped_session_ids.session_id
    where
        existing_sessions.session_end_ts >= cast({{ window_start('session_date') }} as timestamp)
        and scoped_session_ids.session_id is null
),

kept_sessions as (
    -- the affected users' other sessions, left as they are (unless their flag flips, below);
    -- one ending inside the window that this run does not rebuild has vanished
    select
        existing_sessions.*,
        affected_user_keys.user_key
    from existing_sessions
    inner join affected_user_keys
        on coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) = affected_user_keys.user_key
    left join scoped_session_ids
        on existing_sessions.session_id = scoped_session_ids.session_id
    where
        scoped_session_ids.session_id is null
        and (
            existing_sessions.session_end_ts < cast({{ window_start('session_date') }} as timestamp)
            or existing_sessions.session_end_ts >= cast({{ window_end() }} as timestamp)
        )
),

{% endif %}

first_sessions as (
    -- the first session of each stitched user (or lone device), across the whole history
    select
        user_key,
        min(session_start_ts) as first_session_start_ts
    from (
        select
            user_key,
            session_start_ts
        from sessions
        {% if is_incremental() %}
        union all
        select
            user_key,
            session_start_ts
        from kept_sessions
        {% endif %}
    ) as all_sessions
    group by user_key
),

rebuilt as (
    select
        -- ids
        cast(sessions.session_id as text) as session_id,
        cast(sessions.anonymous_id as text) as anonymous_id,
        cast(sessions.user_id as text) as user_id,
        cast(users.user_sk as text) as user_sk,
        cast(sessions.source_session_id as text) as source_session_id,

        -- timestamps
        cast(sessions.session_start_ts as timestamp) as session_start_ts,
        cast(sessions.session_end_ts as timestamp) as session_end_ts,
        cast(sessions.session_start_ts as date) as session_date,
        cast({{ date_key('sessions.session_start_ts') }} as integer) as date_key,
        cast(
            extract(epoch from sessions.session_end_ts - sessions.session_start_ts) as integer
        ) as duration_seconds,

        -- counts
        cast(sessions.event_count as integer) as event_count,
        cast(sessions.page_view_count as integer) as page_view_count,
        cast(sessions.product_view_count as integer) as product_view_count,

        -- pages
        cast(sessions.landing_page_path as text) as landing_page_path,
        cast(sessions.exit_page_path as text) as exit_page_path,

        -- attribution
        cast(sessions.channel_key as text) as channel_key,
        cast(sessions.channel as text) as channel,
        cast(sessions.device_key as text) as device_key,
        cast(sessions.device_type as text) as device_type,

        -- funnel
        sessions.page_view_count <= 1 and sessions.interaction_count = 0 as is_bounce,
        sessions.product_view_count > 0 as has_product_view,
        sessions.add_to_cart_count > 0 as has_add_to_cart,
        sessions.checkout_count > 0 as has_checkout,
        sessions.order_count > 0 as is_converted,

        -- measures
        cast(sessions.order_count as integer) as order_count,
        cast(sessions.revenue as numeric(14, 2)) as revenue,

        -- flags
        cast(sessions.is_bot as boolean) as is_bot,
        sessions.session_start_ts = first_sessions.first_session_start_ts as is_first_session
    from sessions
    inner join first_sessions
        on sessions.user_key = first_sessions.user_key
    left join users
        on
            sessions.user_id = users.user_id
            and sessions.session_start_ts >= users.valid_from
            and sessions.session_start_ts < users.valid_to
),

{% if is_incremental() %}

flipped as (
    -- kept sessions whose is_first_session the rebuilt ones change, re-emitted with the new flag
    select
        -- ids
        kept_sessions.session_id,
        kept_sessions.anonymous_id,
        kept_sessions.user_id,
        kept_sessions.user_sk,
        kept_sessions.source_session_id,

        -- timestamps
        kept_sessions.session_start_ts,
        kept_sessions.session_end_ts,
        kept_sessions.session_date,
        kept_sessions.date_key,
        kept_sessions.duration_seconds,

        -- counts
        kept_sessions.event_count,
        kept_sessions.page_view_count,
        kept_sessions.product_view_count,

        -- pages
        kept_sessions.landing_page_path,
        kept_sessions.exit_page_path,

        -- attribution
        kept_sessions.channel_key,
        kept_sessions.channel,
        kept_sessions.device_key,
        kept_sessions.device_type,

        -- funnel
        kept_sessions.is_bounce,
        kept_sessions.has_product_view,
        kept_sessions.has_add_to_cart,
        kept_sessions.has_checkout,
        kept_sessions.is_converted,

        -- measures
        kept_sessions.order_count,
        kept_sessions.revenue,

        -- flags
        kept_sessions.is_bot,
        kept_sessions.session_start_ts = first_sessions.first_session_start_ts as is_first_session
    from kept_sessions
    inner join first_sessions
        on kept_sessions.user_key = first_sessions.user_key
    where
        kept_sessions.is_first_session
        is distinct from (kept_sessions.session_start_ts = first_sessions.first_session_start_ts)
),

final as (
    select * from rebuilt
    union all
    select * from flipped
)

{% else %}

final as (
    select * from rebuilt
)

{% endif %}

select * from final
