-- Business question: which acquisition channels bring visitors who progress through the funnel,
--   and at which step does each channel lose them?
-- Grain: one row per channel (human sessions only).
-- How to read: *_sessions are closed-funnel counts and *_rate columns step conversion rates
--   from the previous step (definitions shared via rpt_funnel_by_segment); conversion_rate =
--   purchases / sessions; weakest_step is where this channel loses the most visitors;
--   share_of_sessions and revenue_per_session compare the channel's size and value.

with

segments as (
    select * from {{ ref('rpt_funnel_by_segment') }}
    where segment_type = 'channel'
),

final as (
    select
        segment_value as channel,
        sessions,
        round(sessions::numeric / nullif(sum(sessions) over (), 0), 4) as share_of_sessions,
        product_view_sessions,
        add_to_cart_sessions,
        checkout_sessions,
        purchase_sessions,
        product_view_rate,
        add_to_cart_rate,
        checkout_rate,
        purchase_rate,
        conversion_rate,
        weakest_step,
        revenue,
        round(revenue / nullif(sessions, 0), 2) as revenue_per_session,
        rank() over (order by conversion_rate desc nulls last) as conversion_rank
    from segments
)

select * from final
order by sessions desc, channel asc
