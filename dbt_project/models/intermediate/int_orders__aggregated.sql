-- int_orders__aggregated: one row per order (grain: order_id) from its order_completed lines.

with

events as (
    select * from {{ ref('int_events__stitched') }}
),

order_lines as (
    select *
    from events
    where event_name = 'order_completed' and order_id is not null
),

aggregated as (
    select
        -- ids
        order_id,
        min(session_id) as session_id,
        min(anonymous_id) as anonymous_id,
        min(user_id) as user_id,

        -- timestamps
        min(event_ts) as ordered_at,

        -- measures
        count(*) as line_count,
        coalesce(sum(quantity), 0) as item_quantity,
        coalesce(sum(revenue), 0) as revenue,
        bool_or(is_bot) as is_bot
    from order_lines
    group by order_id
)

select * from aggregated
