-- Revenue is the same whichever fact it is summed from: order lines in fct_events, orders,
-- sessions and daily metrics (bots excluded there; bots never purchase). Returns the mismatch.

with

event_revenue as (
    select coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_events') }}
    where event_name = 'order_completed'
),

order_revenue as (
    select coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_orders') }}
),

session_revenue as (
    select coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_sessions') }}
),

daily_revenue as (
    select coalesce(sum(revenue), 0) as revenue
    from {{ ref('fct_daily_metrics') }}
),

totals as (
    select
        event_revenue.revenue as from_events,
        order_revenue.revenue as from_orders,
        session_revenue.revenue as from_sessions,
        daily_revenue.revenue as from_daily_metrics
    from event_revenue
    cross join order_revenue
    cross join session_revenue
    cross join daily_revenue
)

select *
from totals
where
    from_events != from_orders
    or from_events != from_sessions
    or from_events != from_daily_metrics
