-- fct_orders: one row per order (grain: order_id), with the user version valid when ordered.
-- A table: orders are ~1% of events, so a full rebuild costs less than tracking re-stitching.
{{ config(
    indexes=[
        {'columns': ['ordered_at']},
    ],
) }}

with

orders as (
    select * from {{ ref('int_orders__aggregated') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

final as (
    select
        -- ids
        cast(orders.order_id as text) as order_id,
        cast(orders.session_id as text) as session_id,
        cast(orders.user_id as text) as user_id,
        cast(users.user_sk as text) as user_sk,

        -- timestamps
        cast(orders.ordered_at as timestamp) as ordered_at,
        cast({{ date_key('orders.ordered_at') }} as integer) as date_key,

        -- measures
        cast(orders.line_count as integer) as line_count,
        cast(orders.item_quantity as integer) as item_quantity,
        cast(orders.revenue as numeric(14, 2)) as revenue
    from orders
    left join users
        on
            orders.user_id = users.user_id
            and orders.ordered_at >= users.valid_from
            and orders.ordered_at < users.valid_to
)

select * from final
