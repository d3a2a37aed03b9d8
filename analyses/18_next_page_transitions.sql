-- Business question: where do visitors go next from each page (navigation paths)?
-- Grain: one row per from_page x to_page for the 5 most frequent next pages of each page;
--   page views of human sessions, in session order; '(exit)' = the session ended there.
-- How to read: transition_share = transitions / all transitions out of from_page (the
--   probability of the next step); exit_rate of a page is the share of its '(exit)' row.
--   High-traffic pages with a large '(exit)' share leak visitors.

with

events as (
    select * from {{ ref('fct_events') }}
    where
        not is_bot
        and event_name = 'page_view'
        and page_path is not null
),

steps as (
    select
        page_path as from_page,
        coalesce(
            lead(page_path) over (partition by session_id order by session_event_seq),
            '(exit)'
        ) as to_page
    from events
),

transitions as (
    select
        from_page,
        to_page,
        count(*) as transitions
    from steps
    group by
        from_page,
        to_page
),

ranked as (
    select
        from_page,
        to_page,
        transitions,
        sum(transitions) over (partition by from_page) as from_page_views,
        round(transitions::numeric / sum(transitions) over (partition by from_page), 4)
            as transition_share,
        row_number() over (
            partition by from_page order by transitions desc, to_page asc
        ) as next_page_rank
    from transitions
),

final as (
    select
        from_page,
        from_page_views,
        next_page_rank,
        to_page,
        transitions,
        transition_share
    from ranked
    where next_page_rank <= 5
)

select * from final
order by from_page_views desc, from_page asc, next_page_rank asc
