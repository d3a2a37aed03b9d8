-- Contract: an order is the order_completed line rows sharing an order_id, all in one session.
-- Tracked orders (the site's own tracker) also complete at one moment; imported exports such as
-- REES46 keep each purchase line's own time, so only their session is checked.
-- Returns the orders that break either rule.

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
        count(distinct event_ts) as moment_count,
        bool_or(source_session_id is not null) as is_imported
    from order_lines
    group by order_id
)

select *
from orders
where
    session_count != 1
    or (moment_count != 1 and not is_imported)
