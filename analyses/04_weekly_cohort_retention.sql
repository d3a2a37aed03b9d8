-- Business question: of the visitors first seen in a given week, how many come back in each
--   following week?
-- Grain: one row per cohort week x week number (0 = the acquisition week). A visitor is the
--   stitched user_id, else the device (anonymous_id); bots are excluded. Weeks start Monday.
-- How to read: retention_rate = active_visitors / cohort_size; week 0 is always 1.0. Read a
--   row across week numbers for a cohort's decay; read a column down to compare cohorts at
--   the same age. Recent cohorts have fewer observable weeks (no row beyond the data).

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

visitor_weeks as (
    select distinct
        coalesce(user_id, anonymous_id) as visitor_key,
        date_trunc('week', session_date)::date as activity_week
    from sessions
),

cohorts as (
    select
        visitor_key,
        min(activity_week) as cohort_week
    from visitor_weeks
    group by visitor_key
),

activity as (
    select
        cohorts.cohort_week,
        (visitor_weeks.activity_week - cohorts.cohort_week) / 7 as week_number,
        count(distinct visitor_weeks.visitor_key) as active_visitors
    from visitor_weeks
    inner join cohorts
        on visitor_weeks.visitor_key = cohorts.visitor_key
    group by
        cohorts.cohort_week,
        (visitor_weeks.activity_week - cohorts.cohort_week) / 7
),

final as (
    select
        cohort_week,
        week_number,
        first_value(active_visitors) over (
            partition by cohort_week order by week_number
        ) as cohort_size,
        active_visitors,
        round(
            active_visitors::numeric
            / first_value(active_visitors) over (partition by cohort_week order by week_number),
            4
        ) as retention_rate
    from activity
)

select * from final
order by cohort_week, week_number
