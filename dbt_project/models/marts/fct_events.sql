-- fct_events: one row per event (grain: event_id), joined point in time to dim_users and
-- dim_products. Incremental: see the model docs for why delete+insert over [D-L, D+2).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='append_new_columns',
    event_time='event_ts',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['event_ts'], 'type': 'brin'},
        {'columns': ['session_id']},
    ],
    post_hook=[
        "{{ delete_vanished_rows('event_id', 'target.event_date >= ' ~ window_start() ~ ' and target.event_date < ' ~ window_end(), 'upstream.event_date >= ' ~ window_start()) }}",
    ],
) }}

with

events as (
    select * from {{ ref('int_events__stitched') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

{% if is_incremental() %}

window_events as (
    select *
    from events
    where event_date >= {{ window_start() }} and event_date < {{ window_end() }}
),

restitched_devices as (
    -- a login in the window re-stitches the device's earlier anonymous events too
    select distinct anonymous_id
    from window_events
    where logged_user_id is not null
),

scoped_events as (
    select * from window_events
    union all
    select events.*
    from events
    inner join restitched_devices
        on events.anonymous_id = restitched_devices.anonymous_id
    where not (events.event_date >= {{ window_start() }} and events.event_date < {{ window_end() }})
),

{% else %}

scoped_events as (
    select * from events
),

{% endif %}

final as (
    select
        -- ids
        cast(scoped_events.event_id as text) as event_id,
        cast(scoped_events.event_name as text) as event_name,
        cast(scoped_events.session_id as text) as session_id,
        cast(scoped_events.session_event_seq as integer) as session_event_seq,
        cast(scoped_events.anonymous_id as text) as anonymous_id,
        cast(scoped_events.user_id as text) as user_id,
        cast(users.user_sk as text) as user_sk,
        cast(scoped_events.product_id as text) as product_id,
        cast(products.product_sk as text) as product_sk,
        cast(scoped_events.channel_key as text) as channel_key,
        cast(scoped_events.device_key as text) as device_key,
        cast(scoped_events.order_id as text) as order_id,
        cast(scoped_events.source_session_id as text) as source_session_id,

        -- timestamps
        cast(scoped_events.event_ts as timestamp) as event_ts,
        cast(scoped_events.event_date as date) as event_date,
        cast({{ date_key('scoped_events.event_date') }} as integer) as date_key,
        cast(scoped_events.arrival_date as date) as arrival_date,

        -- page
        cast(scoped_events.page_path as text) as page_path,
        cast(scoped_events.page_url as text) as page_url,
        cast(scoped_events.page_referrer as text) as page_referrer,
        cast(scoped_events.search_query as text) as search_query,

        -- measures
        cast(scoped_events.price as numeric(12, 2)) as price,
        cast(scoped_events.quantity as integer) as quantity,
        cast(scoped_events.revenue as numeric(14, 2)) as revenue,
        cast(scoped_events.currency as text) as currency,

        -- flags
        cast(scoped_events.is_bot as boolean) as is_bot
    from scoped_events
    left join users
        on
            scoped_events.user_id = users.user_id
            and scoped_events.event_ts >= users.valid_from
            and scoped_events.event_ts < users.valid_to
    left join products
        on
            scoped_events.product_id = products.product_id
            and scoped_events.event_ts >= products.valid_from
            and scoped_events.event_ts < products.valid_to
)

select * from final
