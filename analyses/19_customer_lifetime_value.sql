-- Business question: what is each customer worth so far, how is value concentrated, and how
--   does it differ by loyalty tier?
-- Grain: one row per identified customer (user_id with at least one order).
-- How to read: lifetime_revenue is historical CLV to date; observed_days = days from the
--   first order to the last order date in the data, floored at 30 so brand-new customers are
--   not extrapolated from a few days; purchase_frequency_30d = orders per 30 observed days;
--   projected_annual_value = lifetime_revenue x 365 / observed_days, a run-rate, not a
--   forecast. value_decile 1 = top 10% of customers; cumulative_revenue_share = Pareto curve.

with

orders as (
    select * from {{ ref('fct_orders') }}
    where user_id is not null
),

users as (
    select * from {{ ref('dim_users') }}
    where is_current
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
        count(*) as orders,
        sum(revenue) as lifetime_revenue
    from orders
    group by user_id
),

measured as (
    select
        customers.*,
        greatest(as_of.as_of_date - customers.first_order_at::date + 1, 30) as observed_days,
        customers.lifetime_revenue / customers.orders as aov
    from customers
    cross join as_of
),

final as (
    select
        measured.user_id,
        coalesce(users.loyalty_tier, '(unknown)') as loyalty_tier,
        measured.first_order_at,
        measured.last_order_at,
        measured.orders,
        measured.lifetime_revenue,
        round(measured.aov, 2) as aov,
        measured.observed_days,
        round(measured.orders * 30.0 / measured.observed_days, 3) as purchase_frequency_30d,
        round(measured.lifetime_revenue * 365.0 / measured.observed_days, 2)
            as projected_annual_value,
        ntile(10) over (
            order by measured.lifetime_revenue desc, measured.user_id asc
        ) as value_decile,
        round(
            sum(measured.lifetime_revenue) over (
                order by measured.lifetime_revenue desc, measured.user_id asc
                rows between unbounded preceding and current row
            ) / sum(measured.lifetime_revenue) over (),
            4
        ) as cumulative_revenue_share
    from measured
    left join users
        on measured.user_id = users.user_id
)

select * from final
order by lifetime_revenue desc, user_id asc
