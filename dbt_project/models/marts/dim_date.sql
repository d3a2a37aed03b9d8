-- dim_date: one row per calendar day (grain: date_day), generated, with fiscal attributes.
-- The fiscal year starts in month var('fiscal_year_start_month') and is named by the calendar
-- year it ends in (retail convention).

{% set fiscal_start = var('fiscal_year_start_month') | int %}

with

date_spine as (
    select
        generate_series(
            cast('{{ var("calendar_start") }}' as date),
            cast('{{ var("calendar_end") }}' as date),
            interval '1 day'
        ) as day_ts
),

days as (
    select cast(day_ts as date) as date_day
    from date_spine
),

final as (
    select
        -- keys
        {{ date_key('date_day') }} as date_key,
        date_day,

        -- calendar
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter,
        cast(extract(month from date_day) as integer) as month,
        trim(to_char(date_day, 'Month')) as month_name,
        cast(extract(week from date_day) as integer) as iso_week,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        trim(to_char(date_day, 'Day')) as day_name,
        extract(isodow from date_day) in (6, 7) as is_weekend,

        -- fiscal
        cast(
            extract(year from date_day + interval '{{ (13 - fiscal_start) % 12 }} months')
            as integer
        ) as fiscal_year,
        cast(
            floor(mod(cast(extract(month from date_day) as integer) - {{ fiscal_start }} + 12, 12) / 3) + 1
            as integer
        ) as fiscal_quarter
    from days
)

select * from final
