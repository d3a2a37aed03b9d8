-- rpt_order_attribution: one row per order with its first-touch and last-touch channel.
-- A visitor is the stitched user_id, else the device (anonymous_id). Touchpoints are the
-- visitor's human sessions that started no later than the converting session; first touch is
-- the earliest of them, last touch the converting session itself. Orders whose session is
-- missing from fct_sessions fall back to channel 'unknown' (0 touchpoints) rather than
-- disappearing, so attributed revenue always equals total revenue.
-- One sorted pass per visitor, not a join of every order with every earlier session of its
-- visitor: that join grows with orders x sessions per visitor, which both grow with the
-- history (at 90 days x 20,000 events/day it was the daily build's slowest node, 3.9 s).
-- Same rows; the query alone, medians of interleaved runs: 2.1-2.8 s -> 1.1 s at 90 days,
-- 0.29 -> 0.34 s at 30 days (a sort of the orderers' sessions instead of a smaller join).
-- No merge joins: the planner cannot estimate the visitors of `converting` (a CTE) and chose to
-- sort every session by visitor for a merge join where a hash join is twice as fast.
{{ config(pre_hook=["set local enable_mergejoin = off"]) }}

with

orders as (
    select * from {{ ref('fct_orders') }}
),

sessions as not materialized (
    -- read twice, each time straight from the table: a materialized copy cost more than a
    -- second scan and hid the table's statistics from the planner
    select
        session_id,
        user_id,
        anonymous_id,
        session_start_ts,
        channel
    from {{ ref('fct_sessions') }}
    where not is_bot
),

converting as (
    select
        orders.order_id,
        orders.ordered_at,
        orders.revenue,
        sessions.session_start_ts,
        sessions.channel as converting_channel,
        coalesce(orders.user_id, sessions.user_id, sessions.anonymous_id) as visitor_key
    from orders
    left join sessions
        on orders.session_id = sessions.session_id
),

visits as (
    -- the sessions of every visitor who ordered, and each order at its converting session's
    -- start; an order without that session or visitor has no touchpoint
    select
        coalesce(user_id, anonymous_id) as visitor_key,
        session_start_ts as touched_at,
        false as is_order,
        session_id,
        channel,
        null as order_id
    from sessions
    where coalesce(user_id, anonymous_id) in (select converting.visitor_key from converting)
    union all
    select
        visitor_key,
        session_start_ts as touched_at,
        true as is_order,
        null as session_id,
        null as channel,
        order_id
    from converting
    where session_start_ts is not null and visitor_key is not null
),

running_counts as (
    -- in time order, a session before an order at the same moment: an order's running count
    -- of sessions is its touchpoints, and the session counted first is the first touch
    select
        visitor_key,
        is_order,
        channel,
        order_id,
        count(*) filter (where not is_order) over (
            partition by visitor_key
            order by touched_at, is_order, session_id
            rows unbounded preceding
        ) as touchpoint_count
    from visits
),

first_touches as (
    -- the same partitions, already in order: no second sort
    select
        order_id,
        is_order,
        touchpoint_count,
        max(channel) filter (where not is_order and touchpoint_count = 1) over (
            partition by visitor_key
        ) as first_touch_channel
    from running_counts
),

touchpoints as (
    select
        order_id,
        touchpoint_count,
        first_touch_channel
    from first_touches
    where is_order
),

final as (
    select
        -- ids
        converting.order_id,
        converting.visitor_key,

        -- timestamps
        converting.ordered_at::timestamp as ordered_at,

        -- attribution
        coalesce(
            case when touchpoints.touchpoint_count > 0 then touchpoints.first_touch_channel end,
            converting.converting_channel,
            'unknown'
        ) as first_touch_channel,
        coalesce(converting.converting_channel, 'unknown') as last_touch_channel,
        coalesce(touchpoints.touchpoint_count, 0)::integer as touchpoint_count,

        -- measures
        converting.revenue::numeric(14, 2) as revenue
    from converting
    left join touchpoints
        on converting.order_id = touchpoints.order_id
)

select * from final
