-- Business question: how many carts are abandoned each day, at which stage, and how much
--   value is left behind?
-- Grain: one row per session date; human sessions that added at least one product to cart.
-- How to read: cart_abandonment_rate = cart sessions without an order / cart sessions;
--   checkout_abandonment_rate = checkout sessions without an order / checkout sessions;
--   abandoned_cart_value = price x quantity of products added in sessions that did not order
--   (removals are not netted out, so it is an upper bound).

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

events as (
    select * from {{ ref('fct_events') }}
    where
        not is_bot
        and event_name = 'product_added'
),

cart_value as (
    select
        session_id,
        sum(coalesce(price, 0) * coalesce(quantity, 1)) as added_value
    from events
    group by session_id
),

cart_sessions as (
    select
        sessions.session_date,
        sessions.has_checkout,
        sessions.is_converted,
        coalesce(cart_value.added_value, 0) as added_value
    from sessions
    left join cart_value
        on sessions.session_id = cart_value.session_id
    where sessions.has_add_to_cart
),

daily as (
    select
        session_date,
        count(*) as cart_sessions,
        count(*) filter (where has_checkout) as checkout_sessions,
        count(*) filter (where is_converted) as purchased_sessions,
        count(*) filter (where has_checkout and not is_converted) as abandoned_checkouts,
        sum(added_value) filter (where not is_converted) as abandoned_cart_value
    from cart_sessions
    group by session_date
),

final as (
    select
        session_date,
        cart_sessions,
        checkout_sessions,
        purchased_sessions,
        cart_sessions - purchased_sessions as abandoned_carts,
        round(1 - purchased_sessions::numeric / cart_sessions, 4) as cart_abandonment_rate,
        round(abandoned_checkouts::numeric / nullif(checkout_sessions, 0), 4)
            as checkout_abandonment_rate,
        coalesce(abandoned_cart_value, 0) as abandoned_cart_value,
        round(
            avg(1 - purchased_sessions::numeric / cart_sessions) over (
                order by session_date rows between 6 preceding and current row
            ),
            4
        ) as cart_abandonment_rate_7d
    from daily
)

select * from final
order by session_date
