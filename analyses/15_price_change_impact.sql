-- Business question: when we changed a product's price, did its sales volume move, and how
--   price-sensitive is it?
-- Grain: one row per price change (a dim_products SCD2 version whose price differs from the
--   previous version of the same product), comparing up to 7 days before with up to 7 days
--   after the change, within the days the event data covers; human traffic only.
-- How to read: *_per_day columns normalise for unequal window lengths; unit_change_pct is the
--   relative change in units per day; price_elasticity = unit_change_pct / price_change_pct
--   (around -1 = revenue-neutral; below -1 = price-sensitive). Few days or units = noisy.

with

products as (
    select * from {{ ref('dim_products') }}
),

events as (
    select * from {{ ref('fct_events') }}
    where
        not is_bot
        and event_name in ('product_viewed', 'order_completed')
),

coverage as (
    select
        min(event_date) as first_date,
        max(event_date) as last_date
    from events
),

versions as (
    select
        product_id,
        product_name,
        price,
        valid_from,
        lag(price) over (partition by product_id order by valid_from) as previous_price
    from products
),

changes as (
    select
        versions.product_id,
        versions.product_name,
        versions.valid_from as changed_at,
        versions.valid_from::date as change_date,
        versions.previous_price as old_price,
        versions.price as new_price,
        versions.valid_from::date - greatest(
            versions.valid_from::date - 7, coverage.first_date
        ) as days_before,
        least(versions.valid_from::date + 6, coverage.last_date)
        - versions.valid_from::date + 1 as days_after
    from versions
    cross join coverage
    where
        versions.previous_price is not null
        and versions.price != versions.previous_price
),

windowed as (
    select
        changes.product_id,
        changes.changed_at,
        count(*) filter (
            where events.event_name = 'product_viewed' and events.event_ts < changes.changed_at
        ) as views_before,
        count(*) filter (
            where events.event_name = 'product_viewed' and events.event_ts >= changes.changed_at
        ) as views_after,
        coalesce(sum(events.quantity) filter (
            where events.event_name = 'order_completed' and events.event_ts < changes.changed_at
        ), 0) as units_before,
        coalesce(sum(events.quantity) filter (
            where events.event_name = 'order_completed' and events.event_ts >= changes.changed_at
        ), 0) as units_after,
        coalesce(sum(events.revenue) filter (
            where events.event_name = 'order_completed' and events.event_ts < changes.changed_at
        ), 0) as revenue_before,
        coalesce(sum(events.revenue) filter (
            where events.event_name = 'order_completed' and events.event_ts >= changes.changed_at
        ), 0) as revenue_after
    from changes
    left join events
        on
            changes.product_id = events.product_id
            and events.event_date >= changes.change_date - changes.days_before
            and events.event_date < changes.change_date + changes.days_after
    group by
        changes.product_id,
        changes.changed_at
),

measured as (
    select
        changes.*,
        windowed.views_before,
        windowed.views_after,
        windowed.units_before,
        windowed.units_after,
        windowed.revenue_before,
        windowed.revenue_after,
        windowed.units_before::numeric / nullif(changes.days_before, 0) as units_per_day_before,
        windowed.units_after::numeric / nullif(changes.days_after, 0) as units_per_day_after,
        (changes.new_price - changes.old_price) / nullif(changes.old_price, 0) as price_change
    from changes
    inner join windowed
        on
            changes.product_id = windowed.product_id
            and changes.changed_at = windowed.changed_at
    where
        changes.days_before > 0
        and changes.days_after > 0
),

final as (
    select
        product_id,
        product_name,
        changed_at,
        old_price,
        new_price,
        round(price_change, 4) as price_change_pct,
        days_before,
        days_after,
        views_before,
        views_after,
        units_before,
        units_after,
        round(units_per_day_before, 2) as units_per_day_before,
        round(units_per_day_after, 2) as units_per_day_after,
        round(revenue_before / days_before, 2) as revenue_per_day_before,
        round(revenue_after / days_after, 2) as revenue_per_day_after,
        round(units_per_day_after / nullif(units_per_day_before, 0) - 1, 4) as unit_change_pct,
        round(
            (units_per_day_after / nullif(units_per_day_before, 0) - 1)
            / nullif(price_change, 0),
            2
        ) as price_elasticity
    from measured
)

select * from final
order by changed_at, product_id
