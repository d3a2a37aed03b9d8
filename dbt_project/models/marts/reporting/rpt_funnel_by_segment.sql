-- rpt_funnel_by_segment: closed-funnel counts and step rates per segment, one row per
-- segment_type x segment_value (segment_type: channel, device_type). One grouping-sets pass
-- serves every "funnel by X" analysis so their rate definitions cannot drift apart.
-- Step rates divide by the previous step; weakest_step is the step with the lowest rate
-- (ties resolve to the earliest step).

with

funnel as (
    select * from {{ ref('rpt_session_funnel') }}
),

counts as (
    select
        case
            when grouping(funnel.channel) = 0 then 'channel'
            else 'device_type'
        end as segment_type,
        coalesce(funnel.channel, funnel.device_type) as segment_value,
        count(*) as sessions,
        count(*) filter (where funnel.reached_product_view) as product_view_sessions,
        count(*) filter (where funnel.reached_add_to_cart) as add_to_cart_sessions,
        count(*) filter (where funnel.reached_checkout) as checkout_sessions,
        count(*) filter (where funnel.reached_purchase) as purchase_sessions,
        sum(funnel.revenue) as revenue
    from funnel
    group by grouping sets ((funnel.channel), (funnel.device_type))
),

rates as (
    select
        *,
        round(product_view_sessions::numeric / nullif(sessions, 0), 4) as product_view_rate,
        round(add_to_cart_sessions::numeric / nullif(product_view_sessions, 0), 4)
            as add_to_cart_rate,
        round(checkout_sessions::numeric / nullif(add_to_cart_sessions, 0), 4) as checkout_rate,
        round(purchase_sessions::numeric / nullif(checkout_sessions, 0), 4) as purchase_rate,
        round(purchase_sessions::numeric / nullif(sessions, 0), 4) as conversion_rate
    from counts
),

final as (
    select
        -- segment
        segment_type,
        segment_value,

        -- closed-funnel counts
        sessions::integer as sessions,
        product_view_sessions::integer as product_view_sessions,
        add_to_cart_sessions::integer as add_to_cart_sessions,
        checkout_sessions::integer as checkout_sessions,
        purchase_sessions::integer as purchase_sessions,

        -- step rates
        product_view_rate::numeric(10, 4) as product_view_rate,
        add_to_cart_rate::numeric(10, 4) as add_to_cart_rate,
        checkout_rate::numeric(10, 4) as checkout_rate,
        purchase_rate::numeric(10, 4) as purchase_rate,
        conversion_rate::numeric(10, 4) as conversion_rate,
        case least(
            coalesce(product_view_rate, 1),
            coalesce(add_to_cart_rate, 1),
            coalesce(checkout_rate, 1),
            coalesce(purchase_rate, 1)
        )
            when coalesce(product_view_rate, 1) then 'product_view'
            when coalesce(add_to_cart_rate, 1) then 'add_to_cart'
            when coalesce(checkout_rate, 1) then 'checkout'
            else 'purchase'
        end as weakest_step,

        -- measures
        revenue::numeric(14, 2) as revenue
    from rates
)

select * from final
