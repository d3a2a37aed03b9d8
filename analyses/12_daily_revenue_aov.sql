-- Business question: how are revenue, order volume and average order value trending?
-- Grain: one row per calendar day from the first to the last order date (days without
--   orders are present with zeros, so moving averages span real calendar weeks).
-- How to read: aov = revenue / orders for the day; *_7d_avg are trailing 7-day averages of
--   the daily values; aov_7d is the 7-day revenue / 7-day orders (order-weighted, not an
--   average of daily AOVs). The first 6 days average over fewer days.

with

orders as (
    select * from {{ ref('fct_orders') }}
),

dates as (
    select * from {{ ref('dim_date') }}
),

daily_orders as (
    select
        ordered_at::date as order_date,
        count(*) as orders,
        sum(revenue) as revenue,
        sum(item_quantity) as items
    from orders
    group by ordered_at::date
),

bounds as (
    select
        min(order_date) as first_date,
        max(order_date) as last_date
    from daily_orders
),

spine as (
    select dates.date_day as order_date
    from dates
    inner join bounds
        on dates.date_day between bounds.first_date and bounds.last_date
),

daily as (
    select
        spine.order_date,
        coalesce(daily_orders.orders, 0) as orders,
        coalesce(daily_orders.revenue, 0) as revenue,
        coalesce(daily_orders.items, 0) as items
    from spine
    left join daily_orders
        on spine.order_date = daily_orders.order_date
),

final as (
    select
        order_date,
        orders,
        items,
        revenue,
        round(revenue / nullif(orders, 0), 2) as aov,
        round(avg(revenue) over trailing_week, 2) as revenue_7d_avg,
        round(avg(orders) over trailing_week, 2) as orders_7d_avg,
        round(sum(revenue) over trailing_week / nullif(sum(orders) over trailing_week, 0), 2)
            as aov_7d
    from daily
    window trailing_week as (order by order_date rows between 6 preceding and current row)
)

select * from final
order by order_date
