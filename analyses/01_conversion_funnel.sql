-- Business question: where do visitors drop out between arriving and buying?
-- Grain: one row per funnel step (session start, product view, add to cart, checkout,
--   purchase) over all human sessions in the warehouse.
-- How to read: sessions = sessions that reached the step having passed every earlier step
--   (closed funnel, see rpt_session_funnel); step_conversion_rate = sessions / sessions at the
--   previous step; drop_off_rate = 1 - step_conversion_rate; overall_conversion_rate =
--   sessions / all sessions. The step with the largest drop_off_rate is the biggest leak.

with

funnel as (
    select * from {{ ref('rpt_session_funnel') }}
),

step_counts as (
    select
        steps.step_number,
        steps.step_name,
        count(*) filter (where steps.is_reached) as sessions
    from funnel
    cross join
        lateral (
            values
            (1, 'session_start', true),
            (2, 'product_view', funnel.reached_product_view),
            (3, 'add_to_cart', funnel.reached_add_to_cart),
            (4, 'checkout', funnel.reached_checkout),
            (5, 'purchase', funnel.reached_purchase)
        ) as steps (step_number, step_name, is_reached)
    group by
        steps.step_number,
        steps.step_name
),

with_previous as (
    select
        step_number,
        step_name,
        sessions,
        lag(sessions) over (order by step_number) as previous_step_sessions,
        first_value(sessions) over (order by step_number) as funnel_entry_sessions
    from step_counts
),

final as (
    select
        step_number,
        step_name,
        sessions,
        previous_step_sessions - sessions as dropped_sessions,
        round(sessions::numeric / nullif(previous_step_sessions, 0), 4) as step_conversion_rate,
        round(1 - sessions::numeric / nullif(previous_step_sessions, 0), 4) as drop_off_rate,
        round(sessions::numeric / nullif(funnel_entry_sessions, 0), 4) as overall_conversion_rate
    from with_previous
)

select * from final
order by step_number
