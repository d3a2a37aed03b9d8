-- Business question: which categories attract attention and which turn it into revenue?
-- Grain: one row per category_l1 x category_l2, with categories as they were when each
--   event happened (point-in-time join on product_sk); human traffic only.
-- How to read: view_to_cart_rate = add-to-cart events / product views; cart_to_order_rate =
--   order lines / add-to-cart events; revenue_share_of_l1 is the l2's share of its top-level
--   category; revenue_share the share of all product revenue.

with

events as (
    select * from {{ ref('fct_events') }}
    where
        not is_bot
        and event_name in ('product_viewed', 'product_added', 'order_completed')
),

products as (
    select * from {{ ref('dim_products') }}
),

categorised as (
    select
        events.event_name,
        events.order_id,
        events.quantity,
        events.revenue,
        coalesce(products.category_l1, '(unknown)') as category_l1,
        coalesce(products.category_l2, '(unknown)') as category_l2
    from events
    left join products
        on events.product_sk = products.product_sk
),

by_category as (
    select
        category_l1,
        category_l2,
        count(*) filter (where event_name = 'product_viewed') as product_views,
        count(*) filter (where event_name = 'product_added') as add_to_carts,
        count(*) filter (where event_name = 'order_completed') as order_lines,
        count(distinct order_id) filter (where event_name = 'order_completed') as orders,
        coalesce(sum(quantity) filter (where event_name = 'order_completed'), 0) as units,
        coalesce(sum(revenue) filter (where event_name = 'order_completed'), 0) as revenue
    from categorised
    group by
        category_l1,
        category_l2
),

final as (
    select
        category_l1,
        category_l2,
        product_views,
        add_to_carts,
        orders,
        units,
        revenue,
        round(add_to_carts::numeric / nullif(product_views, 0), 4) as view_to_cart_rate,
        round(order_lines::numeric / nullif(add_to_carts, 0), 4) as cart_to_order_rate,
        round(revenue / nullif(sum(revenue) over (partition by category_l1), 0), 4)
            as revenue_share_of_l1,
        round(revenue / nullif(sum(revenue) over (), 0), 4) as revenue_share
    from by_category
)

select * from final
order by revenue desc, category_l1 asc, category_l2 asc
