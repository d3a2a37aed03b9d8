-- Every stored agent's browser and os are what the current ua_browser and ua_os macros make of
-- it: a stored parse never goes stale (one parse per stored agent, ~1K of them).

with

parsed as (
    select * from {{ ref('int_user_agents__parsed') }}
),

reparsed as (
    select
        useragent,
        browser,
        os,
        {{ ua_browser('useragent') }} as expected_browser,
        {{ ua_os('useragent') }} as expected_os
    from parsed
)

select *
from reparsed
where browser != expected_browser or os != expected_os
