-- rpt_order_attribution: one row per order with its first-touch and last-touch channel.
-- A visitor is the stitched user_id, else the device (anonymous_id). Touchpoints are the
-- visitor's human sessions that started no later than the converting session; first touch is
-- the earliest of them, last touch the converting session itself. Orders whose session is
-- missing from fct_sessions fall back to channel 'unknown' (0 touchpoints) rather than
-- disappearing, so attributed revenue always equals total revenue.
-- No merge joins: the planner cannot estimate the visitors of `converting` (a CTE) and chose to
-- sort every session by visitor for a merge join; a hash join is twice as fast (at 30 days ×
-- 20,000 events/day, 169K sessions, 5.9K orders: 0.60-0.76 s against 1.28-1.58 s, interleaved).
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

touchpoints as (
    -- one group per order rather than window functions over every (order, session) pair
    select
        converting.order_id,
        (array_agg(sessions.channel order by sessions.session_start_ts, sessions.session_id))[1]
            as first_touch_channel,
        count(*) as touchpoint_count
    from converting
    inner join sessions
        on
            converting.visitor_key = coalesce(sessions.user_id, sessions.anonymous_id)
            and converting.session_start_ts >= sessions.session_start_ts
    group by converting.order_id
),

final as (
    select
        -- ids
        converting.order_id,
        converting.visitor_key,

        -- timestamps
        converting.ordered_at::timestamp as ordered_at,

        -- attribution
        coalesce(first_touch.first_touch_channel, converting.converting_channel, 'unknown')
            as first_touch_channel,
        coalesce(converting.converting_channel, 'unknown') as last_touch_channel,
        coalesce(first_touch.touchpoint_count, 0)::integer as touchpoint_count,

        -- measures
        converting.revenue::numeric(14, 2) as revenue
    from converting
    left join touchpoints as first_touch
        on converting.order_id = first_touch.order_id
)

select * from final
