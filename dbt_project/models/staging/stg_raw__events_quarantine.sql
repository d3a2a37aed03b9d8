-- stg_raw__events_quarantine: one row per rejected landing row (grain: source_file, line_number).

with

source as (
    select * from {{ source('raw', 'events_quarantine') }}
),

renamed as (
    select
        -- ids
        event_id,
        source_file,
        line_number,

        -- rejection
        reason,
        detail,
        raw_line,

        -- timestamps
        arrival_date,
        _loaded_at as loaded_at
    from source
)

select * from renamed
