-- Contract: an order is the order_completed line rows sharing an order_id, all in one session.
-- Tracked orders (the site's own tracker) complete at one moment: their lines may differ only
-- by clock-correction jitter (a line sent late, or stamped in whole seconds), bounded here by
-- a few seconds. Imported exports such as REES46 keep each purchase line's own time, so only
-- their session is checked. Returns the orders that break either rule.

with

order_lines as (
    select *
    from {{ ref('fct_events') }}
    where event_name = 'order_completed'
),

orders as (
    select
        order_id,
        count(distinct session_id) as session_count,
        max(event_ts) - min(event_ts) as completion_spread,
        bool_or(source_session_id is not null) as is_imported
    from order_lines
    group by order_id
)

select *
from orders
where
    session_count != 1
    or (completion_spread > interval '5 seconds' and not is_imported)
