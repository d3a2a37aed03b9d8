-- Business question: what are visitors searching for that they do not buy (catalogue gaps,
--   poor search results)?
-- Grain: one row per normalised search query (lower-cased, trimmed), top 50 by searching
--   sessions that did not purchase; human sessions only.
-- How to read: searching_sessions = sessions with the query; no_purchase_rate = share of them
--   without an order. High volume with a high no_purchase_rate is the priority list;
--   site_conversion_rate is the baseline over all human sessions.

with

events as (
    select * from {{ ref('fct_events') }}
    where
        not is_bot
        and event_name = 'search'
        and nullif(trim(search_query), '') is not null
),

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

site as (
    select round(avg(case when is_converted then 1.0 else 0.0 end), 4) as site_conversion_rate
    from sessions
),

searches as (
    select
        lower(trim(events.search_query)) as search_query,
        events.session_id,
        count(*) as searches
    from events
    group by
        lower(trim(events.search_query)),
        events.session_id
),

by_query as (
    select
        searches.search_query,
        sum(searches.searches) as searches,
        count(*) as searching_sessions,
        count(*) filter (where sessions.is_converted) as purchasing_sessions
    from searches
    inner join sessions
        on searches.session_id = sessions.session_id
    group by searches.search_query
),

final as (
    select
        rank() over (
            order by by_query.searching_sessions - by_query.purchasing_sessions desc
        ) as no_purchase_rank,
        by_query.search_query,
        by_query.searches,
        by_query.searching_sessions,
        by_query.searching_sessions - by_query.purchasing_sessions as no_purchase_sessions,
        round(
            1 - by_query.purchasing_sessions::numeric / by_query.searching_sessions, 4
        ) as no_purchase_rate,
        site.site_conversion_rate
    from by_query
    cross join site
)

select * from final
where no_purchase_rank <= 50
order by no_purchase_rank, search_query
