-- rpt_session_funnel: one row per human session with the closed-funnel step it reached.
-- Closed funnel: a session counts at a step only if it also passed every earlier step
-- (product view -> add to cart -> checkout -> purchase), so each step is a subset of the one
-- before and step conversion rates are true proportions. Bots are excluded.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

steps as (
    select
        session_id,
        session_date,
        channel,
        device_type,
        is_first_session,
        has_product_view as reached_product_view,
        has_product_view and has_add_to_cart as reached_add_to_cart,
        has_product_view and has_add_to_cart and has_checkout as reached_checkout,
        has_product_view and has_add_to_cart and has_checkout and is_converted
            as reached_purchase,
        is_converted,
        revenue
    from sessions
),

final as (
    select
        -- ids
        session_id,

        -- dimensions
        session_date,
        coalesce(channel, 'unknown') as channel,
        coalesce(device_type, 'unknown') as device_type,
        is_first_session,

        -- funnel
        coalesce(reached_product_view, false) as reached_product_view,
        coalesce(reached_add_to_cart, false) as reached_add_to_cart,
        coalesce(reached_checkout, false) as reached_checkout,
        coalesce(reached_purchase, false) as reached_purchase,
        (
            case when coalesce(reached_product_view, false) then 1 else 0 end
            + case when coalesce(reached_add_to_cart, false) then 1 else 0 end
            + case when coalesce(reached_checkout, false) then 1 else 0 end
            + case when coalesce(reached_purchase, false) then 1 else 0 end
        )::integer as funnel_depth,

        -- measures
        coalesce(is_converted, false) as is_converted,
        coalesce(revenue, 0)::numeric(14, 2) as revenue
    from steps
)

select * from final
