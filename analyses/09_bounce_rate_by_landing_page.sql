-- Business question: which landing pages lose visitors immediately?
-- Grain: one row per landing page path (top 50 by sessions); human sessions only.
-- How to read: bounce_rate = single-event sessions / sessions landing there; compare against
--   site_bounce_rate (all landing pages). bounce_rate_vs_site > 0 means the page bounces more
--   than average; pages with many sessions and a high excess are the first to fix.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

pages as (
    select
        coalesce(landing_page_path, '(none)') as landing_page_path,
        count(*) as sessions,
        count(*) filter (where is_bounce) as bounces,
        count(*) filter (where is_converted) as converted_sessions
    from sessions
    group by coalesce(landing_page_path, '(none)')
),

final as (
    select
        landing_page_path,
        sessions,
        bounces,
        round(bounces::numeric / sessions, 4) as bounce_rate,
        round(sum(bounces) over ()::numeric / sum(sessions) over (), 4) as site_bounce_rate,
        round(
            bounces::numeric / sessions - sum(bounces) over ()::numeric / sum(sessions) over (),
            4
        ) as bounce_rate_vs_site,
        round(converted_sessions::numeric / sessions, 4) as conversion_rate,
        rank() over (order by sessions desc) as traffic_rank
    from pages
)

select * from final
where traffic_rank <= 50
order by traffic_rank, landing_page_path
