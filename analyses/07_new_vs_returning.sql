-- Business question: do new and returning visitors behave differently, day by day?
-- Grain: one row per session date x visitor type ('new' = the visitor's first session,
--   'returning' otherwise); human sessions only.
-- How to read: share_of_day_sessions splits each day's traffic between the two types;
--   conversion_rate, revenue and aov (revenue per order) compare their value. Returning
--   visitors usually convert better; a falling returning share means weak retention.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

daily as (
    select
        session_date,
        case when is_first_session then 'new' else 'returning' end as visitor_type,
        count(*) as sessions,
        count(distinct coalesce(user_id, anonymous_id)) as visitors,
        count(*) filter (where is_converted) as converted_sessions,
        sum(order_count) as orders,
        sum(revenue) as revenue
    from sessions
    group by
        session_date,
        case when is_first_session then 'new' else 'returning' end
),

final as (
    select
        session_date,
        visitor_type,
        sessions,
        visitors,
        round(
            sessions::numeric / sum(sessions) over (partition by session_date), 4
        ) as share_of_day_sessions,
        orders,
        round(converted_sessions::numeric / nullif(sessions, 0), 4) as conversion_rate,
        revenue,
        round(revenue / nullif(orders, 0), 2) as aov
    from daily
)

select * from final
order by session_date, visitor_type
