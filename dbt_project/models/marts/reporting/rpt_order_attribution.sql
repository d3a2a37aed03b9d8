-- rpt_order_attribution: one row per order with its first-touch and last-touch channel.
-- A visitor is the stitched user_id, else the device (anonymous_id). Touchpoints are the
-- visitor's human sessions that started no later than the converting session; first touch is
-- the earliest of them, last touch the converting session itself. Orders whose session is
-- missing from fct_sessions fall back to channel 'unknown' (0 touchpoints) rather than
-- disappearing, so attributed revenue always equals total revenue.

with

orders as (
    select * from {{ ref('fct_orders') }}
),

sessions as (
    select * from {{ ref('fct_sessions') }}
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
    select
        converting.order_id,
        sessions.channel,
        row_number() over (
            partition by converting.order_id
            order by sessions.session_start_ts, sessions.session_id
        ) as touch_number,
        count(*) over (partition by converting.order_id) as touchpoint_count
    from converting
    inner join sessions
        on
            converting.visitor_key = coalesce(sessions.user_id, sessions.anonymous_id)
            and converting.session_start_ts >= sessions.session_start_ts
),

final as (
    select
        -- ids
        converting.order_id,
        converting.visitor_key,

        -- timestamps
        converting.ordered_at::timestamp as ordered_at,

        -- attribution
        coalesce(first_touch.channel, converting.converting_channel, 'unknown')
            as first_touch_channel,
        coalesce(converting.converting_channel, 'unknown') as last_touch_channel,
        coalesce(first_touch.touchpoint_count, 0)::integer as touchpoint_count,

        -- measures
        converting.revenue::numeric(14, 2) as revenue
    from converting
    left join touchpoints as first_touch
        on
            converting.order_id = first_touch.order_id
            and first_touch.touch_number = 1
)

select * from final
