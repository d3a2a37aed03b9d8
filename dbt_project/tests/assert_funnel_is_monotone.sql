-- Each day, no funnel step has more human sessions than the step before it:
-- sessions >= product view >= add to cart >= converted. (checkout_started is left out: sources
-- such as REES46 have no checkout event.) Only tracked sessions are checked: imported exports
-- (rows with a source_session_id) record purchases without a cart step in the same session.
-- Returns the days where the funnel widens.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

daily_funnel as (
    select
        session_date,
        count(*) as session_count,
        count(*) filter (where has_product_view) as product_view_count,
        count(*) filter (where has_add_to_cart) as add_to_cart_count,
        count(*) filter (where is_converted) as converted_count
    from sessions
    where not is_bot and source_session_id is null
    group by session_date
)

select *
from daily_funnel
where
    product_view_count > session_count
    or add_to_cart_count > product_view_count
    or converted_count > add_to_cart_count
