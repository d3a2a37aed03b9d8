-- rpt_product_affinity: one row per ordered product pair (antecedent -> consequent) bought in
-- the same order. Market-basket measures over all orders:
--   support    = orders containing both / all orders
--   confidence = orders containing both / orders containing the antecedent  (P(B | A))
--   lift       = confidence / (orders containing the consequent / all orders)
-- lift > 1: bought together more often than if choices were independent.

with

order_lines as (
    select * from {{ ref('fct_events') }}
    where event_name = 'order_completed'
),

baskets as (
    -- one row per order x product: repeated lines of a product count once
    select distinct
        order_id,
        product_id
    from order_lines
    where
        order_id is not null
        and product_id is not null
),

order_total as (
    select count(distinct order_id) as total_orders
    from baskets
),

product_orders as (
    select
        product_id,
        count(*) as product_orders
    from baskets
    group by product_id
),

pairs as (
    select
        antecedent.product_id as antecedent_product_id,
        consequent.product_id as consequent_product_id,
        count(*) as pair_orders
    from baskets as antecedent
    inner join baskets as consequent
        on
            antecedent.order_id = consequent.order_id
            and antecedent.product_id != consequent.product_id
    group by
        antecedent.product_id,
        consequent.product_id
),

final as (
    select
        -- ids
        pairs.antecedent_product_id,
        pairs.consequent_product_id,

        -- counts
        pairs.pair_orders::integer as pair_orders,
        antecedent.product_orders::integer as antecedent_orders,
        consequent.product_orders::integer as consequent_orders,
        order_total.total_orders::integer as total_orders,

        -- measures
        -- 'support' is the standard market-basket term, so the keyword rule is waived here
        round(pairs.pair_orders::numeric / order_total.total_orders, 6)::numeric(18, 6)
            as support,  -- noqa: RF04
        round(pairs.pair_orders::numeric / antecedent.product_orders, 6)::numeric(18, 6)
            as confidence,
        round(
            pairs.pair_orders::numeric * order_total.total_orders
            / (antecedent.product_orders * consequent.product_orders),
            6
        )::numeric(18, 6) as lift
    from pairs
    inner join product_orders as antecedent
        on pairs.antecedent_product_id = antecedent.product_id
    inner join product_orders as consequent
        on pairs.consequent_product_id = consequent.product_id
    cross join order_total
)

select * from final
