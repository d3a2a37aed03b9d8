-- stg_raw__events: one row per accepted event (grain: event_id); renames, casts, light cleaning.
{{ config(event_time='event_ts') }}

with

source as (
    select * from {{ source('raw', 'events') }}
),

renamed as (
    select
        -- ids
        event_id,
        anonymous_id,
        nullif(user_id, '') as user_id,
        session_id,
        nullif(source_session_id, '') as source_session_id,
        nullif(order_id, '') as order_id,
        nullif(product_id, '') as product_id,

        -- event
        lower(event_name) as event_name,
        session_event_seq,
        nullif(page_url, '') as page_url,
        nullif(page_path, '') as page_path,
        nullif(page_referrer, '') as page_referrer,
        nullif(search_query, '') as search_query,

        -- marketing
        nullif(utm_source, '') as utm_source,
        nullif(utm_medium, '') as utm_medium,
        nullif(utm_campaign, '') as utm_campaign,
        nullif(refr_medium, '') as refr_medium,

        -- device
        nullif(useragent, '') as useragent,
        case
            when lower(device_type) in ('desktop', 'mobile', 'tablet') then lower(device_type)
            else 'unknown'
        end as device_type,
        nullif(geo_country, '') as geo_country,
        nullif(ip, '') as ip,
        is_bot,

        -- measures
        price,
        quantity,
        revenue,
        nullif(upper(currency), '') as currency,

        -- timestamps (UTC, without time zone)
        derived_ts at time zone 'UTC' as event_ts,
        session_start_ts at time zone 'UTC' as session_start_ts,
        collector_ts at time zone 'UTC' as collector_ts,
        dvce_created_ts at time zone 'UTC' as dvce_created_ts,
        event_date,
        arrival_date,
        _loaded_at as loaded_at
    from source
),

derived as (
    select
        renamed.*,
        {{ channel_grouping('renamed.utm_source', 'renamed.utm_medium', 'renamed.refr_medium') }}
            as channel
    from renamed
)

select * from derived
