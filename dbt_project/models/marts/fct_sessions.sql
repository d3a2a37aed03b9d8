-- fct_sessions: one row per session (grain: session_id), aggregated from int_events__stitched -
-- not from fct_events, so both facts build side by side. Incremental:
-- every session with an event in [D, D+2) is rebuilt from its events, and on the late days
-- [D-L, D) those of the devices touched since the last build (the whole window in a backfill);
-- the older sessions of devices the window re-stitched only change user, so they are
-- re-stitched from their own rows; plus the older sessions of the same users whose
-- is_first_session flag that changes (replace_window strategy), logging the session dates it
-- changes for fct_daily_metrics. See the model docs.
-- depends_on: {{ ref('int_identity__stitched') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    unique_key='session_id',
    window_column='session_end_ts',
    window_date_column='session_date',
    window_partial_key='anonymous_id',
    changed_dates_log='fct_sessions__changed_dates',
    pre_hook="{{ prepare_changed_dates_log('producer') }}",
    on_schema_change='append_new_columns',
    event_time='session_start_ts',
    indexes=[
        {'columns': ['session_start_ts']},
        {'columns': ['anonymous_id']},
    ],
) }}

with

events as not materialized (
    -- not materialized: an incremental run reads it twice, each time by date (partitions pruned)
    select * from {{ ref('int_events__stitched') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

{% if is_incremental() %}

{%- set late_end = late_days_end() %}

identities as not materialized (
    -- not materialized: probed through its index for the few re-stitched devices
    select * from {{ ref('int_identity__stitched') }}
),

{#- a table built before these columns existed gets them appended (on_schema_change) after
    this query: until then its sessions read as anonymous at their end, and of an unknown last
    arrival (which rebuilds every late day) (a unit test's `this` is its fixture, a string) -#}
{%- set existing_columns = [] if this is string
    else adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
{%- set appended_columns = {'last_logged_user_id': 'text', 'last_arrival_date': 'date'} %}

{% if late_end -%}

-- the devices touched since the table's last build: only their late-day sessions are rebuilt
{{ late_devices('last_arrival_date', 'session_end_ts', existing_columns=existing_columns) }},

{% endif -%}

existing_sessions as not materialized (
    select
        *,
        -- not rebuilt from their events by this run: outside the replace_window strategy's
        -- scope (or, on a daily build's late days, of an untouched device), so left as they
        -- are unless re-emitted
        not (
            (
                session_end_ts >= cast({{ late_end or window_start('session_date') }} as timestamp)
                and session_end_ts < cast({{ window_end() }} as timestamp)
            )
            {%- if late_end %}
            or (
                session_end_ts >= cast({{ window_start('session_date') }} as timestamp)
                and session_end_ts < cast({{ late_end }} as timestamp)
                and {{ is_late_device('anonymous_id', as_list=false) }}
            )
            {%- endif %}
        ) as is_kept
        {%- for column, data_type in appended_columns.items()
            if existing_columns and column not in existing_columns %},
        cast(null as {{ data_type }}) as {{ column }}
        {%- endfor %}
    from {{ this }}
),

boundary_sessions as (
    -- the sessions reaching into the rebuilt days from before them (or past the window's end,
    -- in a backfill): a session's events lie at most 30 minutes apart, so each has an event
    -- dated the first rebuilt day (or the day after the window) with a start before that
    -- midnight. Two or three partitions read for them, where a list of the window's session
    -- ids read five (is_late_device is a list, which the planner pushes into the staging view
    -- below its joins).
    select
        session_id,
        session_start_ts
    from events
    where
        (
            event_date = {{ window_start('session_date') }}
            and session_start_ts < cast({{ window_start('session_date') }} as timestamp)
            {%- if late_end %}
            and {{ is_late_device('anonymous_id') }}
            {%- endif %}
        )
        {%- if late_end %}
        or (
            -- every device's sessions reaching into day D
            event_date = {{ late_end }}
            and session_start_ts < cast({{ late_end }} as timestamp)
        )
        {%- endif %}
        or (
            event_date = {{ window_end() }}
            and session_start_ts < cast({{ window_end() }} as timestamp)
        )
),

restitched_sessions as (
    -- sessions of the devices the window moved to another user that lie wholly outside it:
    -- their events are unchanged, only the device's user is new (one ending inside the window
    -- that no window event carries any more has vanished, and is left for the strategy to drop;
    -- one whose row ends outside the window but whose events now reach into it is a boundary
    -- session, rebuilt from its events)
    select
        existing_sessions.*,
        identities.user_id as device_user_id
    from existing_sessions
    inner join identities
        on existing_sessions.anonymous_id = identities.anonymous_id
    where
        identities.is_restitched
        -- a list as well as the join: the few devices' sessions found through the index on
        -- anonymous_id (a merge join sorted every session)
        and existing_sessions.anonymous_id = any(array(
            select restitched_devices.anonymous_id
            from identities as restitched_devices
            where restitched_devices.is_restitched
        ))
        and existing_sessions.session_id not in (select boundary_sessions.session_id from boundary_sessions)
        and existing_sessions.is_kept
),

scoped_events as (
    -- every session with an event in the rebuilt days, whole: their events, plus the boundary
    -- sessions' events outside them, read from the earliest of their starts on (partitions
    -- pruned at run time), in one pass; lists (`= any(array(...))`), not `in (select ...)`,
    -- which PostgreSQL would not push into the view: its joins ran on every event read
    select *
    from events
    where
        event_date >= least(
            {{ window_start('session_date') }},
            (select cast(min(boundary_sessions.session_start_ts) as date) from boundary_sessions)
        )
        and (
            (event_date >= {{ late_end or window_start('session_date') }} and event_date < {{ window_end() }})
            {%- if late_end %}
            or (
                event_date >= {{ window_start('session_date') }}
                and event_date < {{ late_end }}
                and {{ is_late_device('anonymous_id') }}
            )
            {%- endif %}
            or session_id = any(array(select boundary_sessions.session_id from boundary_sessions))
        )
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
        -- the last identified event's stitched and logged-in users, one sort for both
        array_agg(array[user_id, logged_user_id] order by event_ts desc, event_id desc) filter (
            where user_id is not null
        ) as users_latest_first,
        max(source_session_id) as source_session_id,
        max(arrival_date) as last_arrival_date,
        min(event_ts) as session_start_ts,
        max(event_ts) as session_end_ts,
        -- every page of the session, latest first: the exit page first, the landing page last
        -- (one sort per session for both, where an ascending and a descending one cost 7 %
        -- more of the model's full build)
        array_agg(page_path order by event_ts desc, session_event_seq desc, event_id desc) filter (
            where page_path is not null
        ) as pages_latest_first,
        -- the landing event's channel and device: the session's first event (small sorts per
        -- session, where a row_number() window sorted every event and a join matched it back)
        array_agg(array[channel, device_type, browser, os] order by event_ts, session_event_seq, event_id)
            as landing_attributes,
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

stitched as (
    -- the session's users and landing channel and device, out of the aggregated arrays
    select
        aggregated.*,
        aggregated.users_latest_first[1][1] as user_id,
        aggregated.users_latest_first[1][2] as last_logged_user_id,
        aggregated.landing_attributes[1][1] as channel,
        aggregated.landing_attributes[1][2] as device_type,
        aggregated.landing_attributes[1][3] as browser,
        aggregated.landing_attributes[1][4] as os,
        aggregated.pages_latest_first[cardinality(aggregated.pages_latest_first)] as landing_page_path,
        aggregated.pages_latest_first[1] as exit_page_path
    from aggregated
),

sessions as (
    -- the rebuilt sessions in the table's shape, but for the user version and first-session flag
    select
        -- ids
        cast(session_id as text) as session_id,
        cast(anonymous_id as text) as anonymous_id,
        cast(user_id as text) as user_id,
        cast(last_logged_user_id as text) as last_logged_user_id,
        cast(source_session_id as text) as source_session_id,

        -- timestamps
        cast(session_start_ts as timestamp) as session_start_ts,
        cast(session_end_ts as timestamp) as session_end_ts,
        cast(session_start_ts as date) as session_date,
        cast({{ date_key('session_start_ts') }} as integer) as date_key,
        cast(extract(epoch from session_end_ts - session_start_ts) as integer) as duration_seconds,
        cast(last_arrival_date as date) as last_arrival_date,

        -- counts
        cast(event_count as integer) as event_count,
        cast(page_view_count as integer) as page_view_count,
        cast(product_view_count as integer) as product_view_count,

        -- pages
        cast(landing_page_path as text) as landing_page_path,
        cast(exit_page_path as text) as exit_page_path,

        -- attribution: the landing event's keys, made as int_events__stitched makes them
        {{ surrogate_key(['channel']) }} as channel_key,
        cast(channel as text) as channel,
        {{ surrogate_key(['device_type', 'browser', 'os']) }} as device_key,
        cast(device_type as text) as device_type,

        -- funnel
        page_view_count <= 1 and interaction_count = 0 as is_bounce,
        product_view_count > 0 as has_product_view,
        add_to_cart_count > 0 as has_add_to_cart,
        checkout_count > 0 as has_checkout,
        order_count > 0 as is_converted,

        -- measures
        cast(order_count as integer) as order_count,
        cast(revenue as numeric(14, 2)) as revenue,

        -- flags
        cast(is_bot as boolean) as is_bot
    from stitched

    {% if is_incremental() %}

    union all

    select
        -- ids
        session_id,
        anonymous_id,
        -- as aggregated: the user the last event logged in with, else the device's user
        coalesce(last_logged_user_id, device_user_id) as user_id,
        last_logged_user_id,
        source_session_id,

        -- timestamps
        session_start_ts,
        session_end_ts,
        session_date,
        date_key,
        duration_seconds,
        last_arrival_date,

        -- counts
        event_count,
        page_view_count,
        product_view_count,

        -- pages
        landing_page_path,
        exit_page_path,

        -- attribution
        channel_key,
        channel,
        device_key,
        device_type,

        -- funnel
        is_bounce,
        has_product_view,
        has_add_to_cart,
        has_checkout,
        is_converted,

        -- measures
        order_count,
        revenue,

        -- flags
        is_bot
    from restitched_sessions

    {% endif %}
),

{% if is_incremental() %}

scoped_session_ids as (
    -- the sessions this run rebuilds: every window session and the re-stitched ones
    select session_id from sessions
),

affected_user_keys as (
    -- users (or lone devices) of the rebuilt sessions, now and before this run
    select coalesce(user_id, anonymous_id) as user_key from sessions
    union
    -- before this run: the rebuilt sessions' users, and those of sessions in the rebuilt scope
    -- (or past the window's end, in a backfill) that this run does not rebuild: their events
    -- vanished (the strategy deletes them) or lie past the window; none daily, and a wider set
    -- of users is only more flags recomputed.
    -- One scan with a hashed list, not a join or an anti join with the window's ids: planned
    -- on the default estimates of tables without fresh statistics (200 window sessions, few
    -- rows of this table past the window start), the anti join became a nested loop over the
    -- unindexed CTE (12.2 s of a 12.8 s query for 16K sessions on day 7 of `clickstream run`)
    -- and the join 29K index probes (0.4 s of 3.5 s on day 30 of a 30-day history)
    select coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) as user_key
    from existing_sessions
    where
        not existing_sessions.is_kept
        or existing_sessions.session_end_ts >= cast({{ window_end() }} as timestamp)
        or existing_sessions.session_id in (select scoped_session_ids.session_id from scoped_session_ids)
),

first_session_rescans as (
    -- affected users whose first session before this run is rebuilt or gone: the earliest of
    -- their other sessions is unknown, so all of those are read (in a daily build, the users
    -- first seen in the window, who have none)
    select coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) as user_key
    from existing_sessions
    where
        existing_sessions.is_first_session
        and (
            not existing_sessions.is_kept
            or existing_sessions.session_id in (select scoped_session_ids.session_id from scoped_session_ids)
        )
),

kept_sessions as (
    -- the affected users' other sessions that can hold or take their first-session flag, left
    -- as they are (unless the flag flips, below): a kept first session starts no later than
    -- the user's other kept sessions, so those are needed only for the users whose first
    -- session this run rebuilds (at 30 days × 20K events a day: 4K rows, not 84K). One ending
    -- inside the window that this run does not rebuild has vanished.
    select
        existing_sessions.*,
        affected_user_keys.user_key
    from existing_sessions
    inner join affected_user_keys
        on coalesce(existing_sessions.user_id, existing_sessions.anonymous_id) = affected_user_keys.user_key
    where
        -- hashed lists for the same reason as above
        existing_sessions.session_id not in (select scoped_session_ids.session_id from scoped_session_ids)
        and existing_sessions.is_kept
        and (
            existing_sessions.is_first_session
            or affected_user_keys.user_key in (select first_session_rescans.user_key from first_session_rescans)
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
            coalesce(user_id, anonymous_id) as user_key,
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
        sessions.session_id,
        sessions.anonymous_id,
        sessions.user_id,
        sessions.last_logged_user_id,
        cast(users.user_sk as text) as user_sk,
        sessions.source_session_id,

        -- timestamps
        sessions.session_start_ts,
        sessions.session_end_ts,
        sessions.session_date,
        sessions.date_key,
        sessions.duration_seconds,
        sessions.last_arrival_date,

        -- counts
        sessions.event_count,
        sessions.page_view_count,
        sessions.product_view_count,

        -- pages
        sessions.landing_page_path,
        sessions.exit_page_path,

        -- attribution
        sessions.channel_key,
        sessions.channel,
        sessions.device_key,
        sessions.device_type,

        -- funnel
        sessions.is_bounce,
        sessions.has_product_view,
        sessions.has_add_to_cart,
        sessions.has_checkout,
        sessions.is_converted,

        -- measures
        sessions.order_count,
        sessions.revenue,

        -- flags
        sessions.is_bot,
        sessions.session_start_ts = first_sessions.first_session_start_ts as is_first_session
    from sessions
    inner join first_sessions
        on coalesce(sessions.user_id, sessions.anonymous_id) = first_sessions.user_key
    left join users
        on
            sessions.user_id = users.user_id
            and sessions.session_start_ts >= users.valid_from
            and sessions.session_start_ts < users.valid_to
),

{% if is_incremental() %}

flip_flags as (
    -- kept sessions whose is_first_session the rebuilt ones change: their new flag
    select
        kept_sessions.session_id,
        kept_sessions.anonymous_id,
        kept_sessions.session_end_ts,
        kept_sessions.session_start_ts = first_sessions.first_session_start_ts as is_first_session
    from kept_sessions
    inner join first_sessions
        on kept_sessions.user_key = first_sessions.user_key
    where
        kept_sessions.is_first_session
        is distinct from (kept_sessions.session_start_ts = first_sessions.first_session_start_ts)
),

reemitted as (
    -- the flipped sessions with their new flag; and, on a daily build's late days, where the
    -- strategy replaces the sessions of every device with a row there, a flipped session's
    -- device's other kept sessions of those days, as they are
    select
        -- ids
        existing_sessions.session_id,
        existing_sessions.anonymous_id,
        existing_sessions.user_id,
        existing_sessions.last_logged_user_id,
        existing_sessions.user_sk,
        existing_sessions.source_session_id,

        -- timestamps
        existing_sessions.session_start_ts,
        existing_sessions.session_end_ts,
        existing_sessions.session_date,
        existing_sessions.date_key,
        existing_sessions.duration_seconds,
        existing_sessions.last_arrival_date,

        -- counts
        existing_sessions.event_count,
        existing_sessions.page_view_count,
        existing_sessions.product_view_count,

        -- pages
        existing_sessions.landing_page_path,
        existing_sessions.exit_page_path,

        -- attribution
        existing_sessions.channel_key,
        existing_sessions.channel,
        existing_sessions.device_key,
        existing_sessions.device_type,

        -- funnel
        existing_sessions.is_bounce,
        existing_sessions.has_product_view,
        existing_sessions.has_add_to_cart,
        existing_sessions.has_checkout,
        existing_sessions.is_converted,

        -- measures
        existing_sessions.order_count,
        existing_sessions.revenue,

        -- flags
        existing_sessions.is_bot,
        coalesce(flip_flags.is_first_session, existing_sessions.is_first_session) as is_first_session
    from existing_sessions
    left join flip_flags
        on existing_sessions.session_id = flip_flags.session_id
    where
        -- lists: the primary key and anonymous_id indexes find the few rows
        existing_sessions.session_id = any(array(select flip_flags.session_id from flip_flags))
        {%- if late_end %}
        or (
            existing_sessions.anonymous_id = any(array(
                select flip_flags.anonymous_id
                from flip_flags
                where
                    flip_flags.session_end_ts >= cast({{ window_start('session_date') }} as timestamp)
                    and flip_flags.session_end_ts < cast({{ late_end }} as timestamp)
            ))
            and existing_sessions.session_end_ts >= cast({{ window_start('session_date') }} as timestamp)
            and existing_sessions.session_end_ts < cast({{ late_end }} as timestamp)
            and existing_sessions.is_kept
            and existing_sessions.session_id not in (select scoped_session_ids.session_id from scoped_session_ids)
        )
        {%- endif %}
),

final as (
    select * from rebuilt
    union all
    select * from reemitted
)

{% else %}

final as (
    select * from rebuilt
)

{% endif %}

select * from final
