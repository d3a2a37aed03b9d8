-- stg_raw__load_audit: one row per loaded arrival day (grain: batch_id).

with

source as (
    select * from {{ source('raw', 'load_audit') }}
),

renamed as (
    select
        -- ids
        batch_id,
        arrival_date,

        -- counts
        input_rows,
        accepted,
        quarantined,
        quarantined_by_reason,
        duplicates_exact,
        duplicates_payload,
        loaded_rows,
        events_checksum,

        -- timestamps
        started_at at time zone 'UTC' as started_at,
        finished_at at time zone 'UTC' as finished_at,
        seconds
    from source
)

select * from renamed
