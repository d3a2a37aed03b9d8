-- Business question: how does each channel perform over the period on the daily metrics
--   table, and how much of the business does it carry?
-- Grain: one row per channel, summed over all days and device types of fct_daily_metrics
--   (bots already excluded there).
-- How to read: conversion_rate and bounce_rate are session-weighted (not averages of daily
--   rates); users sums daily distinct users, so a user active on 3 days counts 3 times;
--   revenue_share and session_share give the channel mix.

with

daily_metrics as (
    select * from {{ ref('fct_daily_metrics') }}
),

channels as (
    select
        channel,
        sum(sessions) as sessions,
        sum(users) as user_days,
        sum(new_users) as new_users,
        sum(orders) as orders,
        sum(revenue) as revenue,
        sum(conversion_rate * sessions) as converted_sessions,
        sum(bounce_rate * sessions) as bounced_sessions
    from daily_metrics
    group by channel
),

final as (
    select
        channel,
        sessions,
        user_days,
        new_users,
        orders,
        revenue,
        round(converted_sessions / nullif(sessions, 0), 4) as conversion_rate,
        round(bounced_sessions / nullif(sessions, 0), 4) as bounce_rate,
        round(revenue / nullif(orders, 0), 2) as aov,
        round(sessions::numeric / nullif(sum(sessions) over (), 0), 4) as session_share,
        round(revenue / nullif(sum(revenue) over (), 0), 4) as revenue_share
    from channels
)

select * from final
order by revenue desc, channel asc
