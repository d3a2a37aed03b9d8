-- Business question: how long after their first visit do customers place their first order,
--   and how many sessions does it take?
-- Grain: one row per time-to-purchase bucket; one customer = one visitor (stitched user_id,
--   else anonymous_id) with at least one order, measured from their first human session.
-- How to read: customers / share_of_customers is the distribution; avg_sessions_to_purchase
--   counts sessions up to and including the converting one; median_hours_to_purchase is
--   within the bucket. A large "same session" share means impulse buying.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

orders as (
    select * from {{ ref('fct_orders') }}
),

visitor_sessions as (
    select
        session_id,
        session_start_ts,
        coalesce(user_id, anonymous_id) as visitor_key,
        min(session_start_ts) over (
            partition by coalesce(user_id, anonymous_id)
        ) as first_seen_ts,
        row_number() over (
            partition by coalesce(user_id, anonymous_id)
            order by session_start_ts, session_id
        ) as session_number
    from sessions
),

first_orders as (
    select
        visitor_sessions.visitor_key,
        visitor_sessions.first_seen_ts,
        visitor_sessions.session_start_ts as converting_session_start_ts,
        visitor_sessions.session_number,
        orders.ordered_at,
        row_number() over (
            partition by visitor_sessions.visitor_key
            order by orders.ordered_at, orders.order_id
        ) as order_number
    from orders
    inner join visitor_sessions
        on orders.session_id = visitor_sessions.session_id
),

customers as (
    select
        visitor_key,
        session_number as sessions_to_purchase,
        extract(epoch from ordered_at - first_seen_ts) / 3600.0 as hours_to_purchase,
        session_number = 1 as is_same_session
    from first_orders
    where order_number = 1
),

bucketed as (
    select
        *,
        case
            when is_same_session then 1
            when hours_to_purchase < 24 then 2
            when hours_to_purchase < 24 * 7 then 3
            when hours_to_purchase < 24 * 30 then 4
            else 5
        end as bucket_order,
        case
            when is_same_session then 'same session'
            when hours_to_purchase < 24 then 'within 1 day'
            when hours_to_purchase < 24 * 7 then '1-7 days'
            when hours_to_purchase < 24 * 30 then '7-30 days'
            else '30+ days'
        end as bucket
    from customers
),

final as (
    select
        bucket_order,
        bucket,
        count(*) as customers,
        round(count(*)::numeric / sum(count(*)) over (), 4) as share_of_customers,
        round(avg(sessions_to_purchase), 2) as avg_sessions_to_purchase,
        round(
            (percentile_cont(0.5) within group (order by hours_to_purchase))::numeric, 2
        ) as median_hours_to_purchase
    from bucketed
    group by
        bucket_order,
        bucket
)

select * from final
order by bucket_order
