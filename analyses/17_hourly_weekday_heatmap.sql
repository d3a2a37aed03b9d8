-- Business question: at which hours of which weekdays do visitors come and buy (for
--   campaign timing and maintenance windows)?
-- Grain: one row per ISO weekday (1 = Monday) x hour of day (0-23) in UTC, all 168 cells
--   present (zeros included); human sessions only.
-- How to read: sessions per cell is the heatmap intensity; share_of_sessions is the cell's
--   share of all sessions; conversion_rate shows when traffic converts. Hours are UTC: shift
--   them for the audience's local time.

with

sessions as (
    select * from {{ ref('fct_sessions') }}
    where not is_bot
),

grid as (
    select
        weekdays.day_of_week,
        hours.hour_of_day,
        -- 2024-01-01 is a Monday: gives English weekday names without a lookup table
        to_char(date '2024-01-01' + weekdays.day_of_week - 1, 'FMDay') as day_name
    from generate_series(1, 7) as weekdays (day_of_week)
    cross join generate_series(0, 23) as hours (hour_of_day)
),

cells as (
    select
        extract(isodow from session_start_ts)::integer as day_of_week,
        extract(hour from session_start_ts)::integer as hour_of_day,
        count(*) as sessions,
        count(*) filter (where is_converted) as converted_sessions,
        sum(revenue) as revenue
    from sessions
    group by
        extract(isodow from session_start_ts)::integer,
        extract(hour from session_start_ts)::integer
),

final as (
    select
        grid.day_of_week,
        grid.day_name,
        grid.hour_of_day,
        coalesce(cells.sessions, 0) as sessions,
        round(
            coalesce(cells.sessions, 0)::numeric / nullif(sum(cells.sessions) over (), 0), 4
        ) as share_of_sessions,
        round(cells.converted_sessions::numeric / nullif(cells.sessions, 0), 4)
            as conversion_rate,
        coalesce(cells.revenue, 0) as revenue
    from grid
    left join cells
        on
            grid.day_of_week = cells.day_of_week
            and grid.hour_of_day = cells.hour_of_day
)

select * from final
order by day_of_week, hour_of_day
