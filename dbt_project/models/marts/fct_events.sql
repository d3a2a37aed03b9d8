-- fct_events: one row per event (grain: event_id), joined point in time to dim_users and
-- dim_products. Incremental: the events of [D-L, D+2) plus the older events of re-stitched
-- devices replace their old rows (replace_window strategy); see the model docs for why.
-- depends_on: {{ ref('int_identity__stitched') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    unique_key='event_id',
    window_column='event_date',
    window_partial_key='anonymous_id',
    on_schema_change='append_new_columns',
    event_time='event_ts',
    indexes=[
        {'columns': ['event_ts']},
        {'columns': ['event_date']},
        {'columns': ['anonymous_id']},
    ],
    post_hook=[
        "{{ partial_index(['order_id'], \"event_name = 'order_completed'\") }}",
    ],
) }}

with

events as not materialized (
    -- not materialized: an incremental run reads it twice, each time for few rows or columns
    select * from {{ ref('int_events__stitched') }}
),

users as (
    select * from {{ ref('dim_users') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

{% if is_incremental() %}

{%- set late_end = late_days_end() %}

identities as (
    select * from {{ ref('int_identity__stitched') }}
),

{% if late_end -%}

-- the devices touched since the table's last build: only their late-day events are rebuilt
{{ late_devices('arrival_date', 'event_date', products='products') }},

{% endif -%}

restitched_devices as (
    -- devices the window moved to another user: their events outside it change user too
    select anonymous_id
    from identities
    where is_restitched
),

window_events as (
    select
        event_id,
        event_name,
        session_id,
        session_event_seq,
        anonymous_id,
        user_id,
        product_id,
        channel_key,
        device_key,
        order_id,
        source_session_id,
        event_ts,
        event_date,
        arrival_date,
        page_path,
        page_url,
        page_referrer,
        search_query,
        price,
        quantity,
        revenue,
        currency,
        is_bot
    from events
    where
        event_date >= {{ window_start() }} and event_date < {{ window_end() }}
        {% if late_end -%}
        -- on the late days, only the late devices' events (the range above prunes partitions;
        -- is_late_device is a list, which the planner pushes into the view below its joins)
        and (
            event_date >= {{ late_end }}
            or {{ is_late_device('anonymous_id') }}
        )
        {%- endif %}
),

restitched_events as (
    -- outside the window only the user of a re-stitched device's events changes: the row is
    -- kept from the table and only the new user read from the events (re-deriving whole rows
    -- would parse every user agent of the device's history)
    select
        existing.event_id,
        existing.event_name,
        existing.session_id,
        existing.session_event_seq,
        existing.anonymous_id,
        stitched.user_id,
        existing.product_id,
        existing.channel_key,
        existing.device_key,
        existing.order_id,
        existing.source_session_id,
        existing.event_ts,
        existing.event_date,
        existing.arrival_date,
        existing.page_path,
        existing.page_url,
        existing.page_referrer,
        existing.search_query,
        existing.price,
        existing.quantity,
        existing.revenue,
        existing.currency,
        existing.is_bot
    from {{ this }} as existing
    -- one primary-key probe of the events per row (`limit 1` keeps the subquery a probe): a
    -- join let the planner scan and stitch every event of the history for these few rows
    -- (0.85 s against 0.18 s for 3.7K rows of 616K)
    cross join lateral (
        select events.user_id
        from events
        where
            events.event_date = existing.event_date
            and events.event_id = existing.event_id
        limit 1
    ) as stitched
    where
        -- a list, not a join: the anonymous_id index finds the devices' few rows
        existing.anonymous_id = any(array(select anonymous_id from restitched_devices))
        {% if late_end -%}
        -- every row the window's events do not rebuild
        and not (existing.event_date >= {{ late_end }} and existing.event_date < {{ window_end() }})
        and not (
            existing.event_date >= {{ window_start() }}
            and existing.event_date < {{ late_end }}
            and {{ is_late_device('existing.anonymous_id', as_list=false) }}
        )
        {%- else -%}
        and not (existing.event_date >= {{ window_start() }} and existing.event_date < {{ window_end() }})
        {%- endif %}
),

scoped_events as (
    select * from window_events
    union all
    select * from restitched_events
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
{% if not is_incremental() %}
-- a complete build stores the rows in time order, as daily builds append them: a range of
-- event_ts then reads consecutive pages through the event_ts index, and the planner, which
-- prices index scans by that correlation, takes the index for a week's range
order by event_ts
{% endif %}
