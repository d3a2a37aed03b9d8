-- Business question: which products drive revenue, and how concentrated is revenue?
-- Grain: one row per product (top 50 by revenue) over all completed order lines.
-- How to read: revenue_rank 1 = highest revenue (ties share a rank); revenue_share = the
--   product's share of all product revenue; cumulative_share shows the Pareto curve (how
--   few products make e.g. 80% of revenue). Names and categories are the current versions.

with

order_lines as (
    select * from {{ ref('fct_events') }}
    where event_name = 'order_completed'
),

products as (
    select * from {{ ref('dim_products') }}
    where is_current
),

by_product as (
    select
        product_id,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(revenue) as revenue
    from order_lines
    where product_id is not null
    group by product_id
),

ranked as (
    select
        by_product.*,
        rank() over (order by by_product.revenue desc) as revenue_rank,
        round(by_product.revenue / nullif(sum(by_product.revenue) over (), 0), 4)
            as revenue_share,
        round(
            sum(by_product.revenue) over (
                order by by_product.revenue desc, by_product.product_id asc
                rows between unbounded preceding and current row
            ) / nullif(sum(by_product.revenue) over (), 0),
            4
        ) as cumulative_share
    from by_product
),

final as (
    select
        ranked.revenue_rank,
        ranked.product_id,
        products.product_name,
        products.category_l1,
        products.brand,
        ranked.orders,
        ranked.units,
        ranked.revenue,
        round(ranked.revenue / nullif(ranked.units, 0), 2) as avg_unit_price,
        ranked.revenue_share,
        ranked.cumulative_share
    from ranked
    left join products
        on ranked.product_id = products.product_id
    where ranked.revenue_rank <= 50
)

select * from final
order by revenue_rank, product_id
