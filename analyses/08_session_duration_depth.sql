-- Business question: how long and how deep are sessions, and do longer/deeper sessions
--   convert better?
-- Grain: one row per distribution (duration or depth) x bucket; human sessions only. Depth =
--   page views in the session; duration = last event minus first event (0 for one-event
--   sessions).
-- How to read: sessions and share_of_sessions give the histogram; cumulative_share is the
--   share of sessions at or below the bucket; conversion_rate shows the value of engagement.
--   Compare buckets within one distribution only.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

bucketed as (
    select
        'duration' as distribution,
        case
            when duration_seconds < 10 then 1
            when duration_seconds < 60 then 2
            when duration_seconds < 180 then 3
            when duration_seconds < 600 then 4
            when duration_seconds < 1800 then 5
            else 6
        end as bucket_order,
        case
            when duration_seconds < 10 then '0-9 s'
            when duration_seconds < 60 then '10-59 s'
            when duration_seconds < 180 then '1-3 min'
            when duration_seconds < 600 then '3-10 min'
            when duration_seconds < 1800 then '10-30 min'
            else '30+ min'
        end as bucket,
        is_converted
    from sessions

    union all

    select
        'depth' as distribution,
        least(greatest(page_view_count, 0), 10) as bucket_order,
        case
            when page_view_count >= 10 then '10+ pages'
            when page_view_count = 1 then '1 page'
            else greatest(page_view_count, 0) || ' pages'
        end as bucket,
        is_converted
    from sessions
),

counts as (
    select
        distribution,
        bucket_order,
        bucket,
        count(*) as sessions,
        count(*) filter (where is_converted) as converted_sessions
    from bucketed
    group by
        distribution,
        bucket_order,
        bucket
),

final as (
    select
        distribution,
        bucket_order,
        bucket,
        sessions,
        round(
            sessions::numeric / sum(sessions) over (partition by distribution), 4
        ) as share_of_sessions,
        round(
            sum(sessions) over (
                partition by distribution
                order by bucket_order
                rows between unbounded preceding and current row
            )::numeric
            / sum(sessions) over (partition by distribution),
            4
        ) as cumulative_share,
        round(converted_sessions::numeric / nullif(sessions, 0), 4) as conversion_rate
    from counts
)

select * from final
order by distribution, bucket_order
