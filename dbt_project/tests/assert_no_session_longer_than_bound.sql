-- No human session lasts longer than var('max_session_hours'): with a 30-minute inactivity
-- gap, a longer one means sessionization (or clock-skew correction) went wrong.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
)

select
    session_id,
    duration_seconds
from sessions
where
    not is_bot
    and duration_seconds > {{ var('max_session_hours') | int }} * 3600
