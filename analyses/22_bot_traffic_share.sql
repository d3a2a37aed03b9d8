-- Business question: how much of our traffic is bots, and is it growing?
-- Grain: one row per session date over all sessions and events (bots included).
-- How to read: bot_session_share = bot sessions / all sessions; bot_event_share = bot events
--   / all events (bots are usually deep, so this share is higher); *_7d is the trailing
--   7-day share (ratio of sums). Every other analysis excludes bots.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

daily as (
    select
        session_date,
        count(*) as sessions,
        count(*) filter (where is_bot) as bot_sessions,
        sum(event_count) as events,
        coalesce(sum(event_count) filter (where is_bot), 0) as bot_events
    from sessions
    group by session_date
),

final as (
    select
        session_date,
        sessions,
        bot_sessions,
        round(bot_sessions::numeric / sessions, 4) as bot_session_share,
        events,
        bot_events,
        round(bot_events::numeric / nullif(events, 0), 4) as bot_event_share,
        round(
            sum(bot_sessions) over trailing_week::numeric / sum(sessions) over trailing_week, 4
        ) as bot_session_share_7d
    from daily
    window trailing_week as (order by session_date rows between 6 preceding and current row)
)

select * from final
order by session_date
