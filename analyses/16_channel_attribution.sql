-- Business question: which channels start customer journeys and which close them, and how
--   differently would we credit revenue under first-touch vs last-touch attribution?
-- Grain: one row per channel (every order credited once under each model, see
--   rpt_order_attribution; 'unknown' = converting session missing).
-- How to read: first_touch_* credit the channel of the visitor's first human session;
--   last_touch_* the converting session's channel. revenue_shift = last-touch minus
--   first-touch revenue: positive = a closing channel, negative = an introducing channel.

with

attribution as (
    select * from {{ ref('rpt_order_attribution') }}
),

first_touch as (
    select
        first_touch_channel as channel,
        count(*) as orders,
        sum(revenue) as revenue
    from attribution
    group by first_touch_channel
),

last_touch as (
    select
        last_touch_channel as channel,
        count(*) as orders,
        sum(revenue) as revenue
    from attribution
    group by last_touch_channel
),

combined as (
    select
        coalesce(first_touch.channel, last_touch.channel) as channel,
        coalesce(first_touch.orders, 0) as first_touch_orders,
        coalesce(first_touch.revenue, 0) as first_touch_revenue,
        coalesce(last_touch.orders, 0) as last_touch_orders,
        coalesce(last_touch.revenue, 0) as last_touch_revenue
    from first_touch
    full outer join last_touch
        on first_touch.channel = last_touch.channel
),

final as (
    select
        channel,
        first_touch_orders,
        first_touch_revenue,
        round(first_touch_revenue / nullif(sum(first_touch_revenue) over (), 0), 4)
            as first_touch_revenue_share,
        last_touch_orders,
        last_touch_revenue,
        round(last_touch_revenue / nullif(sum(last_touch_revenue) over (), 0), 4)
            as last_touch_revenue_share,
        last_touch_revenue - first_touch_revenue as revenue_shift
    from combined
)

select * from final
order by last_touch_revenue desc, channel asc
