-- fct_sessions: one row per session (grain: session_id). Incremental delete+insert of whole
-- sessions: every session touched by an event in [D-L, D+2), plus every session whose
-- stitched user or first-session flag a login in the window can change.
-- depends_on: {{ ref('int_identity__stitched') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='session_id',
    on_schema_change='append_new_columns',
    event_time='session_start_ts',
    indexes=[
        {'columns': ['session_id'], 'unique': true},
        {'columns': ['session_start_ts'], 'type': 'brin'},
        {'columns': ['anonymous_id']},
    ],
    post_hook=[
        "{{ delete_vanished_rows('session_id', 'target.session_end_ts >= cast(' ~ window_start('session_date') ~ ' as timestamp)') }}",
    ],
) }}

with

events as (
    select * from {{ ref('int_events__stitched') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

{% if is_incremental() %}

identities as (
    select * from {{ ref('int_identity__stitched') }}
),

existing_sessions as (
    select * from {{ this }}
),

window_events as (
    select *
    from events
    where
        event_date >= {{ window_start('session_date') }}
        and event_date < {{ window_end() }}
),

restitched_devices as (
    select distinct anonymous_id
    from window_events
    where logged_user_id is not null
),

affected_users as (
    -- users gaining a device now, and users the device belonged to before
    select identities.user_id
    from identities
    inner join restitched_devices
        on identities.anonymous_id = restitched_devices.anonymous_id
    where identities.user_id is not null
    union
    select existing_sessions.user_id
    from existing_sessions
    inner join restitched_devices
        on existing_sessions.anonymous_id = restitched_devices.anonymous_id
    where existing_sessions.user_id is not null
),

affected_devices as (
    select anonymous_id from restitched_devices
    union
    select identities.anonymous_id
    from identities
    inner join affected_users
        on identities.user_id = affected_users.user_id
),

scoped_session_ids as (
    select session_id from window_events
    union
    select events.session_id
    from events
    inner join affected_devices
        on events.anonymous_id = affected_devices.anonymous_id
),

scoped_events as (
    select events.*
    from events
    inner join scoped_session_ids
        on events.session_id = scoped_session_ids.session_id
),

{% else %}

scoped_events as (
    select * from events
),

{% endif %}

ordered_events as (
    select
        *,
        row_number() over (
            partition by session_id order by event_ts, session_event_seq, event_id
        ) as position_from_start,
        row_number() over (
            partition by session_id order by event_ts desc, session_event_seq desc, event_id desc
        ) as position_from_end
    from scoped_events
),

landing_events as (
    select
        session_id,
        channel_key,
        channel,
        device_key,
        device_type
    from ordered_events
    where position_from_start = 1
),

pages as (
    select
        session_id,
        (array_agg(page_path order by event_ts, session_event_seq, event_id))[1] as landing_page_path,
        (array_agg(page_path order by event_ts desc, session_event_seq desc, event_id desc))[1]
            as exit_page_path
    from scoped_events
    where page_path is not null
    group by session_id
),

aggregated as (
    select
        session_id,
        min(anonymous_id) as anonymous_id,
        (array_agg(user_id order by event_ts desc, event_id desc) filter (where user_id is not null))[1]
            as user_id,
        max(source_session_id) as source_session_id,
        min(event_ts) as session_start_ts,
        max(event_ts) as session_end_ts,
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
        landing_events.channel_key,
        landing_events.channel,
        landing_events.device_key,
        landing_events.device_type,
        pages.landing_page_path,
        pages.exit_page_path,
        coalesce(aggregated.user_id, aggregated.anonymous_id) as user_key
    from aggregated
    inner join landing_events
        on aggregated.session_id = landing_events.session_id
    left join pages
        on aggregated.session_id = pages.session_id
),

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
            coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) as user_key,
            existing_sessions.session_start_ts
        from existing_sessions
        left join sessions
            on existing_sessions.session_id = sessions.session_id
        where sessions.session_id is null
        {% endif %}
    ) as all_sessions
    group by user_key
),

final as (
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
)

select * from final
