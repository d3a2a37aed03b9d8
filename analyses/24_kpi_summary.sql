-- Business question: what are the headline numbers for the whole period in the warehouse?
-- Grain: one row (the whole data range); human sessions only, orders as recorded.
-- How to read: conversion_rate = converted sessions / sessions; aov = revenue / orders;
--   revenue_per_session = revenue / sessions; unique_users = distinct visitors (stitched
--   user_id, else device); first_date/last_date bound the session dates covered. The
--   dashboard's KPI tiles read this row.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

orders as (
    select * from {{ ref('fct_orders') }}
),

traffic as (
    select
        min(session_date) as first_date,
        max(session_date) as last_date,
        count(*) as sessions,
        count(distinct coalesce(user_id, anonymous_id)) as unique_users,
        count(*) filter (where is_converted) as converted_sessions,
        count(*) filter (where is_bounce) as bounced_sessions
    from sessions
),

sales as (
    select
        count(*) as orders,
        coalesce(sum(revenue), 0) as revenue
    from orders
),

final as (
    select
        traffic.first_date,
        traffic.last_date,
        traffic.sessions,
        traffic.unique_users,
        sales.orders,
        sales.revenue,
        round(traffic.converted_sessions::numeric / nullif(traffic.sessions, 0), 4)
            as conversion_rate,
        round(sales.revenue / nullif(sales.orders, 0), 2) as aov,
        round(sales.revenue / nullif(traffic.sessions, 0), 2) as revenue_per_session,
        round(traffic.bounced_sessions::numeric / nullif(traffic.sessions, 0), 4) as bounce_rate
    from traffic
    cross join sales
)

select * from final
