-- Business question: which known users have stopped visiting and should get a win-back
--   campaign?
-- Grain: one row per identified user (user_id) with at least one human session. "Today" is
--   the last session date in the data, so a historical backfill reads the same.
-- How to read: days_since_last_session is the churn signal; avg_days_between_sessions is the
--   user's own rhythm (null with one session). risk_band: active (<= 7 days), cooling (8-14),
--   at_risk (15-30), churned (> 30), raised to 'overdue' when an otherwise active/cooling user
--   is silent for more than twice their usual gap. Sort by revenue to prioritise.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where
        not is_bot
        and user_id is not null
),

as_of as (
    select max(session_date) as as_of_date
    from sessions
),

gaps as (
    select
        user_id,
        session_date,
        order_count,
        revenue,
        session_date - lag(session_date) over (
            partition by user_id order by session_start_ts, session_id
        ) as days_since_previous
    from sessions
),

users as (
    select
        user_id,
        min(session_date) as first_session_date,
        max(session_date) as last_session_date,
        count(*) as sessions,
        sum(order_count) as orders,
        sum(revenue) as revenue,
        round(avg(days_since_previous), 1) as avg_days_between_sessions
    from gaps
    group by user_id
),

measured as (
    select
        users.*,
        as_of.as_of_date,
        as_of.as_of_date - users.last_session_date as days_since_last_session
    from users
    cross join as_of
),

final as (
    select
        user_id,
        first_session_date,
        last_session_date,
        as_of_date,
        days_since_last_session,
        sessions,
        orders,
        revenue,
        avg_days_between_sessions,
        case
            when days_since_last_session > 30 then 'churned'
            when days_since_last_session > 14 then 'at_risk'
            when
                avg_days_between_sessions > 0
                and days_since_last_session > 2 * avg_days_between_sessions
                then 'overdue'
            when days_since_last_session > 7 then 'cooling'
            else 'active'
        end as risk_band
    from measured
)

select * from final
order by days_since_last_session desc, revenue desc, user_id asc
