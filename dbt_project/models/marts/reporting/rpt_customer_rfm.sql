-- rpt_customer_rfm: one row per identified customer (user_id with at least one order).
-- Recency is measured against the last order date in the data (not today), so a historical
-- backfill scores the same as it did on the day. Scores are quintiles (5 = best) with user_id
-- as the tie-breaker so a rerun gives the same scores.

with

orders as (
    select * from {{ ref('fct_orders') }}
    where user_id is not null
),

as_of as (
    select max(ordered_at)::date as as_of_date
    from orders
),

customers as (
    select
        user_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as frequency,
        sum(revenue) as monetary
    from orders
    group by user_id
),

scored as (
    select
        customers.*,
        as_of.as_of_date,
        as_of.as_of_date - customers.last_order_at::date as recency_days,
        ntile(5) over (
            order by as_of.as_of_date - customers.last_order_at::date desc, customers.user_id
        ) as r_score,
        ntile(5) over (order by customers.frequency, customers.user_id) as f_score,
        ntile(5) over (order by customers.monetary, customers.user_id) as m_score
    from customers
    cross join as_of
),

final as (
    select
        -- ids
        user_id,

        -- timestamps
        first_order_at::timestamp as first_order_at,
        last_order_at::timestamp as last_order_at,
        as_of_date,

        -- measures
        recency_days::integer as recency_days,
        frequency::integer as frequency,
        monetary::numeric(14, 2) as monetary,
        r_score::integer as r_score,
        f_score::integer as f_score,
        m_score::integer as m_score,
        concat(r_score, f_score, m_score) as rfm_cell,
        case
            when r_score >= 4 and f_score >= 4 then 'champions'
            when r_score >= 3 and f_score >= 3 then 'loyal'
            when r_score >= 4 then 'new_or_promising'
            when r_score <= 2 and f_score >= 3 then 'at_risk'
            when r_score <= 2 then 'hibernating'
            else 'needs_attention'
        end as rfm_segment
    from scored
)

select * from final
