-- Contract: an order is the order_completed line rows sharing an order_id, all in one session
-- at one moment. Returns orders spread over several sessions or timestamps.

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
        count(distinct event_ts) as moment_count
    from order_lines
    group by order_id
)

select *
from orders
where session_count != 1 or moment_count != 1
