-- Business question: how clean is the incoming data, and which defects are growing?
-- Grain: one row per arrival date x quarantine reason (from the loader's audit and
--   quarantine tables); days with nothing quarantined have one '(none)' row.
-- How to read: quarantined_rows / input_rows = reason_rate (share of that day's raw rows);
--   share_of_quarantine = share of the day's quarantined rows; reconciles is true when
--   input = accepted + quarantined + duplicates (the loader's invariant) for the day.

with

audit as (
    select * from {{ source('raw', 'load_audit') }}
),

quarantine as (
    select * from {{ source('raw', 'events_quarantine') }}
),

latest_audit as (
    -- a re-loaded day keeps only its latest audit row
    select *
    from (
        select
            audit.*,
            row_number() over (
                partition by audit.arrival_date order by audit.finished_at desc
            ) as load_number
        from audit
    ) as numbered
    where load_number = 1
),

reasons as (
    select
        arrival_date,
        reason,
        count(*) as quarantined_rows
    from quarantine
    group by
        arrival_date,
        reason
),

final as (
    select
        latest_audit.arrival_date,
        coalesce(reasons.reason, '(none)') as reason,
        coalesce(reasons.quarantined_rows, 0) as quarantined_rows,
        latest_audit.input_rows,
        latest_audit.accepted as accepted_rows,
        latest_audit.duplicates_exact + latest_audit.duplicates_payload as duplicate_rows,
        round(
            coalesce(reasons.quarantined_rows, 0)::numeric / nullif(latest_audit.input_rows, 0),
            4
        ) as reason_rate,
        round(
            coalesce(reasons.quarantined_rows, 0)::numeric
            / nullif(latest_audit.quarantined, 0),
            4
        ) as share_of_quarantine,
        latest_audit.input_rows = latest_audit.accepted + latest_audit.quarantined
        + latest_audit.duplicates_exact + latest_audit.duplicates_payload as reconciles
    from latest_audit
    left join reasons
        on latest_audit.arrival_date = reasons.arrival_date
)

select * from final
order by arrival_date asc, quarantined_rows desc, reason asc
