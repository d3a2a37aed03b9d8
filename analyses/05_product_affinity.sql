-- Business question: which products are bought together, so we can bundle or cross-sell them?
-- Grain: one row per directed product pair "customers who bought A also bought B" (top 50 by
--   lift, pairs seen in at least 2 orders when any are, see rpt_product_affinity).
-- How to read: support = share of all orders containing both; confidence = share of orders
--   with A that also contain B; lift = confidence relative to B's base rate (1 = independent,
--   2 = twice as likely as chance). Prefer high lift backed by enough pair_orders.

with

affinity as (
    select * from {{ ref('rpt_product_affinity') }}
),

products as (
    select * from {{ ref('dim_products') }}
    where is_current
),

threshold as (
    -- require repeat co-occurrence when the data has any, else keep everything
    select least(2, max(pair_orders)) as min_pair_orders
    from affinity
),

ranked as (
    select
        affinity.*,
        row_number() over (
            order by
                affinity.lift desc,
                affinity.pair_orders desc,
                affinity.antecedent_product_id asc,
                affinity.consequent_product_id asc
        ) as lift_rank
    from affinity
    cross join threshold
    where affinity.pair_orders >= threshold.min_pair_orders
),

final as (
    select
        ranked.lift_rank,
        ranked.antecedent_product_id,
        antecedent.product_name as antecedent_product_name,
        ranked.consequent_product_id,
        consequent.product_name as consequent_product_name,
        ranked.pair_orders,
        ranked.total_orders,
        ranked.support,
        ranked.confidence,
        ranked.lift
    from ranked
    left join products as antecedent
        on ranked.antecedent_product_id = antecedent.product_id
    left join products as consequent
        on ranked.consequent_product_id = consequent.product_id
    where ranked.lift_rank <= 50
)

select * from final
order by lift_rank
